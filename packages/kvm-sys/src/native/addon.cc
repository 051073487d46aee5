// ts-vmm kvm-sys native addon.
//
// A deliberately small, generic set of Linux syscalls for a VMM written in TypeScript: open/close,
// ioctl, mmap/munmap, memfd, eventfd, non-blocking read/write, fd readiness watching on the calling
// thread's libuv loop, and a signal used to kick a vCPU thread out of KVM_RUN.
//
// This file knows nothing about KVM: no ioctl numbers, no struct layouts, no policy. All of that
// lives in TypeScript. The addon trusts its TypeScript callers (they choose ioctl numbers and
// argument buffers), but it validates what it can: buffer pointers come from live ArrayBuffers, and
// munmap only accepts buffers that mmap created.
//
// Errors are thrown as JS Error objects with .errno (number), .code (errno name) and .syscall.
#include <napi.h>
#include <uv.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cmath>
#include <map>
#include <mutex>
#include <set>
#include <string>

namespace {

// ---------------------------------------------------------------------------------------------
// errors

const char* ErrnoName(int err) {
  switch (err) {
#define E(x) \
  case x:    \
    return #x;
    E(EPERM) E(ENOENT) E(ESRCH) E(EINTR) E(EIO) E(ENXIO) E(E2BIG) E(ENOEXEC) E(EBADF) E(ECHILD)
    E(EAGAIN) E(ENOMEM) E(EACCES) E(EFAULT) E(ENOTBLK) E(EBUSY) E(EEXIST) E(EXDEV) E(ENODEV)
    E(ENOTDIR) E(EISDIR) E(EINVAL) E(ENFILE) E(EMFILE) E(ENOTTY) E(ETXTBSY) E(EFBIG) E(ENOSPC)
    E(ESPIPE) E(EROFS) E(EMLINK) E(EPIPE) E(EDOM) E(ERANGE) E(EDEADLK) E(ENAMETOOLONG) E(ENOLCK)
    E(ENOSYS) E(ENOTEMPTY) E(ELOOP) E(ENOMSG) E(EIDRM) E(ENODATA) E(ETIME) E(EOVERFLOW)
    E(EBADFD) E(EILSEQ) E(ENOTSOCK) E(EMSGSIZE) E(EOPNOTSUPP) E(EADDRINUSE) E(EADDRNOTAVAIL)
    E(ENETDOWN) E(ECONNRESET) E(ENOBUFS) E(EISCONN) E(ENOTCONN) E(ETIMEDOUT) E(ECONNREFUSED)
    E(EALREADY) E(EINPROGRESS) E(ECANCELED) E(EHWPOISON)
#undef E
    default:
      return "EUNKNOWN";
  }
}

// Throws `syscall(detail) failed: CODE (strerror)` with errno/code/syscall properties.
void ThrowErrno(Napi::Env env, int err, const char* syscall, const std::string& detail,
                const std::string& note = "") {
  std::string msg = std::string(syscall) + "(" + detail + ") failed: " + ErrnoName(err) + " (" +
                    strerror(err) + ")" + (note.empty() ? "" : ": " + note);
  Napi::Error e = Napi::Error::New(env, msg);
  e.Set("errno", Napi::Number::New(env, err));
  e.Set("code", Napi::String::New(env, ErrnoName(err)));
  e.Set("syscall", Napi::String::New(env, syscall));
  e.ThrowAsJavaScriptException();
}

void ThrowType(Napi::Env env, const std::string& msg) {
  Napi::TypeError::New(env, msg).ThrowAsJavaScriptException();
}

std::string FdStr(int fd) { return "fd " + std::to_string(fd); }

std::string Hex(uint64_t v) {
  char buf[32];
  snprintf(buf, sizeof buf, "0x%llx", static_cast<unsigned long long>(v));
  return buf;
}

// ---------------------------------------------------------------------------------------------
// argument helpers (return false after throwing)

bool GetInt(const Napi::CallbackInfo& info, size_t i, const char* what, int64_t* out) {
  Napi::Env env = info.Env();
  if (i >= info.Length()) {
    ThrowType(env, std::string("missing argument: ") + what);
    return false;
  }
  Napi::Value v = info[i];
  if (v.IsNumber()) {
    double d = v.As<Napi::Number>().DoubleValue();
    // Integral and within [-2^63, 2^64): values >= 2^63 are passed through as unsigned bit patterns.
    if (std::isfinite(d) && std::trunc(d) == d && d >= -9223372036854775808.0 && d < 18446744073709551616.0) {
      *out = d < 9223372036854775808.0 ? static_cast<int64_t>(d) : static_cast<int64_t>(static_cast<uint64_t>(d));
      return true;
    }
    ThrowType(env, std::string(what) + " must be an integer, got " + std::to_string(d));
    return false;
  }
  if (v.IsBigInt()) {
    bool lossless = false;
    int64_t s = v.As<Napi::BigInt>().Int64Value(&lossless);
    if (lossless) {
      *out = s;
      return true;
    }
    uint64_t u = v.As<Napi::BigInt>().Uint64Value(&lossless);
    if (lossless) {
      *out = static_cast<int64_t>(u);
      return true;
    }
    ThrowType(env, std::string(what) + " does not fit in 64 bits");
    return false;
  }
  ThrowType(env, std::string(what) + " must be a number or bigint");
  return false;
}

bool GetFd(const Napi::CallbackInfo& info, size_t i, int* fd) {
  int64_t v;
  if (!GetInt(info, i, "fd", &v)) return false;
  if (v < INT32_MIN || v > INT32_MAX) {
    ThrowType(info.Env(), "fd " + std::to_string(v) + " is out of range");
    return false;
  }
  // Negative or closed fds go to the kernel, which answers EBADF naming the real syscall.
  *fd = static_cast<int>(v);
  return true;
}

// Resolves an ArrayBuffer / TypedArray / DataView to (pointer, length).
bool GetBytes(Napi::Value v, uint8_t** data, size_t* len) {
  if (v.IsArrayBuffer()) {
    Napi::ArrayBuffer ab = v.As<Napi::ArrayBuffer>();
    *data = static_cast<uint8_t*>(ab.Data());
    *len = ab.ByteLength();
    return true;
  }
  if (v.IsTypedArray()) {
    Napi::TypedArray ta = v.As<Napi::TypedArray>();
    Napi::ArrayBuffer ab = ta.ArrayBuffer();
    *data = static_cast<uint8_t*>(ab.Data()) + ta.ByteOffset();
    *len = ta.ByteLength();
    return true;
  }
  if (v.IsDataView()) {
    Napi::DataView dv = v.As<Napi::DataView>();
    Napi::ArrayBuffer ab = dv.ArrayBuffer();
    *data = static_cast<uint8_t*>(ab.Data()) + dv.ByteOffset();
    *len = dv.ByteLength();
    return true;
  }
  return false;
}

bool GetBuf(const Napi::CallbackInfo& info, size_t i, const char* what, uint8_t** data, size_t* len) {
  if (i < info.Length() && GetBytes(info[i], data, len)) return true;
  ThrowType(info.Env(), std::string(what) + " must be an ArrayBuffer or ArrayBufferView");
  return false;
}

// ---------------------------------------------------------------------------------------------
// open / close / ioctl

Napi::Value Open(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsString()) {
    ThrowType(env, "path must be a string");
    return env.Undefined();
  }
  std::string path = info[0].As<Napi::String>().Utf8Value();
  int64_t flags = 0;
  if (info.Length() > 1 && !GetInt(info, 1, "flags", &flags)) return env.Undefined();
  int fd;
  do {
    fd = ::open(path.c_str(), static_cast<int>(flags) | O_CLOEXEC);
  } while (fd < 0 && errno == EINTR);
  if (fd < 0) {
    ThrowErrno(env, errno, "open", "'" + path + "', " + Hex(static_cast<uint64_t>(flags)));
    return env.Undefined();
  }
  return Napi::Number::New(env, fd);
}

Napi::Value Close(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd;
  if (!GetFd(info, 0, &fd)) return env.Undefined();
  // Linux always releases the descriptor, even when close reports EINTR: never retry.
  if (::close(fd) < 0 && errno != EINTR) ThrowErrno(env, errno, "close", FdStr(fd));
  return env.Undefined();
}

Napi::Value Ioctl(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd;
  if (!GetFd(info, 0, &fd)) return env.Undefined();
  if (info.Length() < 2 || !info[1].IsNumber()) {
    ThrowType(env, "request must be a number");
    return env.Undefined();
  }
  // Request numbers are unsigned 32-bit; some exceed 2^31.
  unsigned long request =
      static_cast<unsigned long>(static_cast<uint32_t>(info[1].As<Napi::Number>().Int64Value()));
  unsigned long arg = 0;
  if (info.Length() > 2 && !info[2].IsUndefined() && !info[2].IsNull()) {
    uint8_t* data;
    size_t len;
    if (GetBytes(info[2], &data, &len)) {
      // Requests built with _IOR/_IOW/_IOWR encode the size of what the kernel reads or writes
      // (asm-generic/ioctl.h: dir in bits 30-31, size in bits 16-29). Refuse a smaller buffer so the
      // kernel never touches memory outside it. (Variable-length structs encode their header size,
      // so a larger buffer is fine.)
      size_t encoded = (request >> 30) != 0 ? ((request >> 16) & 0x3fff) : 0;
      if (len < encoded) {
        ThrowErrno(env, EINVAL, "ioctl", FdStr(fd) + ", " + Hex(request),
                   "buffer of " + std::to_string(len) + " bytes is smaller than the " + std::to_string(encoded) +
                       " bytes the request encodes");
        return env.Undefined();
      }
      if (data == nullptr && len == 0 && encoded > 0) {
        ThrowErrno(env, EINVAL, "ioctl", FdStr(fd) + ", " + Hex(request), "detached buffer");
        return env.Undefined();
      }
      arg = reinterpret_cast<unsigned long>(data);
    } else {
      int64_t v;
      if (!GetInt(info, 2, "arg", &v)) return env.Undefined();
      arg = static_cast<unsigned long>(v);
    }
  }
  int r = ::ioctl(fd, request, arg);
  if (r < 0) {
    ThrowErrno(env, errno, "ioctl", FdStr(fd) + ", " + Hex(request));
    return env.Undefined();
  }
  return Napi::Number::New(env, r);
}

// Hot path (KVM_RUN): integer argument 0, no type dispatch. EINTR and EAGAIN (the two errnos that
// mean "call again") are returned as -EINTR / -EAGAIN; every other error throws.
Napi::Value IoctlFast(const Napi::CallbackInfo& info) {
  if (info.Length() < 2 || !info[0].IsNumber() || !info[1].IsNumber()) {
    ThrowType(info.Env(), "ioctlFast(fd, request): both must be numbers");
    return info.Env().Undefined();
  }
  int fd = info[0].As<Napi::Number>().Int32Value();
  unsigned long request =
      static_cast<unsigned long>(static_cast<uint32_t>(info[1].As<Napi::Number>().Int64Value()));
  int r = ::ioctl(fd, request, 0UL);
  if (r < 0) {
    int err = errno;
    if (err == EINTR || err == EAGAIN) return Napi::Number::New(info.Env(), -err);
    ThrowErrno(info.Env(), err, "ioctl", FdStr(fd) + ", " + Hex(request));
    return info.Env().Undefined();
  }
  return Napi::Number::New(info.Env(), r);
}

// ---------------------------------------------------------------------------------------------
// mmap / munmap / addressOf

std::mutex g_mapMutex;
std::map<uintptr_t, size_t> g_mappings;  // start address -> length, for mappings made by mmap()

Napi::Value Mmap(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int64_t fd, length, prot, flags, offset;
  if (!GetInt(info, 0, "fd", &fd) || !GetInt(info, 1, "length", &length) ||
      !GetInt(info, 2, "prot", &prot) || !GetInt(info, 3, "flags", &flags) ||
      !GetInt(info, 4, "offset", &offset))
    return env.Undefined();
  if (length <= 0) {
    ThrowErrno(env, EINVAL, "mmap", FdStr(static_cast<int>(fd)) + ", length " + std::to_string(length));
    return env.Undefined();
  }
  void* p = ::mmap(nullptr, static_cast<size_t>(length), static_cast<int>(prot), static_cast<int>(flags),
                   static_cast<int>(fd), static_cast<off_t>(offset));
  if (p == MAP_FAILED) {
    ThrowErrno(env, errno, "mmap",
               FdStr(static_cast<int>(fd)) + ", length " + std::to_string(length) + ", offset " +
                   std::to_string(offset));
    return env.Undefined();
  }
  {
    std::lock_guard<std::mutex> lock(g_mapMutex);
    g_mappings[reinterpret_cast<uintptr_t>(p)] = static_cast<size_t>(length);
  }
  // External ArrayBuffer, no finalizer: unmapping is explicit (munmap).
  napi_value ab;
  napi_status st = napi_create_external_arraybuffer(env, p, static_cast<size_t>(length), nullptr, nullptr, &ab);
  if (st != napi_ok) {
    ::munmap(p, static_cast<size_t>(length));
    {
      std::lock_guard<std::mutex> lock(g_mapMutex);
      g_mappings.erase(reinterpret_cast<uintptr_t>(p));
    }
    // V8 may have left its own exception (e.g. a RangeError for a length over its ArrayBuffer
    // limit) pending: take its message and throw ours instead (throwing twice is fatal).
    std::string why = "napi status " + std::to_string(static_cast<int>(st));
    bool pending = false;
    napi_is_exception_pending(env, &pending);
    if (pending) {
      napi_value err;
      napi_get_and_clear_last_exception(env, &err);
      why = Napi::Value(env, err).ToString().Utf8Value();
    }
    ThrowErrno(env, ENOMEM, "mmap", FdStr(static_cast<int>(fd)) + ", length " + std::to_string(length),
               "the mapping cannot be exposed as an ArrayBuffer: " + why);
    return env.Undefined();
  }
  return Napi::Value(env, ab);
}

Napi::Value Munmap(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsArrayBuffer()) {
    ThrowType(env, "munmap: argument must be the ArrayBuffer returned by mmap");
    return env.Undefined();
  }
  Napi::ArrayBuffer ab = info[0].As<Napi::ArrayBuffer>();
  uintptr_t addr = reinterpret_cast<uintptr_t>(ab.Data());
  size_t len = ab.ByteLength();
  {
    std::lock_guard<std::mutex> lock(g_mapMutex);
    auto it = g_mappings.find(addr);
    if (addr == 0 || it == g_mappings.end() || it->second != len) {
      ThrowErrno(env, EINVAL, "munmap", Hex(addr) + ", " + std::to_string(len), "not a live mapping from mmap()");
      return env.Undefined();
    }
    if (::munmap(reinterpret_cast<void*>(addr), len) < 0) {
      ThrowErrno(env, errno, "munmap", Hex(addr) + ", length " + std::to_string(len));
      return env.Undefined();
    }
    g_mappings.erase(it);
  }
  // Detach so that later accesses through this buffer see length 0 rather than freed memory.
  // (Other ArrayBuffers over the same mapping, e.g. in other threads, are the caller's business.)
  napi_detach_arraybuffer(env, ab);  // external buffers are detachable; ignore failure
  return env.Undefined();
}

Napi::Value AddressOf(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint8_t* data;
  size_t len;
  if (!GetBuf(info, 0, "addressOf: argument", &data, &len)) return env.Undefined();
  return Napi::BigInt::New(env, static_cast<uint64_t>(reinterpret_cast<uintptr_t>(data)));
}

// ---------------------------------------------------------------------------------------------
// memfd / ftruncate / read / write / fcntl

Napi::Value MemfdCreate(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsString()) {
    ThrowType(env, "name must be a string");
    return env.Undefined();
  }
  std::string name = info[0].As<Napi::String>().Utf8Value();
  int64_t flags = 0;
  if (info.Length() > 1 && !GetInt(info, 1, "flags", &flags)) return env.Undefined();
  int fd = static_cast<int>(::syscall(SYS_memfd_create, name.c_str(), static_cast<unsigned>(flags) | 1U /*MFD_CLOEXEC*/));
  if (fd < 0) {
    ThrowErrno(env, errno, "memfd_create", "'" + name + "', " + Hex(static_cast<uint64_t>(flags)));
    return env.Undefined();
  }
  return Napi::Number::New(env, fd);
}

Napi::Value Ftruncate(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd;
  int64_t size;
  if (!GetFd(info, 0, &fd) || !GetInt(info, 1, "size", &size)) return env.Undefined();
  int r;
  do {
    r = ::ftruncate(fd, static_cast<off_t>(size));
  } while (r < 0 && errno == EINTR);
  if (r < 0) ThrowErrno(env, errno, "ftruncate", FdStr(fd) + ", " + std::to_string(size));
  return env.Undefined();
}

Napi::Value Read(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd;
  uint8_t* data;
  size_t len;
  if (!GetFd(info, 0, &fd) || !GetBuf(info, 1, "read: buffer", &data, &len)) return env.Undefined();
  ssize_t r;
  do {
    r = ::read(fd, data, len);
  } while (r < 0 && errno == EINTR);
  if (r < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK) return Napi::Number::New(env, -1);
    ThrowErrno(env, errno, "read", FdStr(fd) + ", " + std::to_string(len));
    return env.Undefined();
  }
  return Napi::Number::New(env, static_cast<double>(r));
}

Napi::Value Write(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd;
  uint8_t* data;
  size_t len;
  if (!GetFd(info, 0, &fd) || !GetBuf(info, 1, "write: buffer", &data, &len)) return env.Undefined();
  ssize_t r;
  do {
    r = ::write(fd, data, len);
  } while (r < 0 && errno == EINTR);
  if (r < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK) return Napi::Number::New(env, -1);
    ThrowErrno(env, errno, "write", FdStr(fd) + ", " + std::to_string(len));
    return env.Undefined();
  }
  return Napi::Number::New(env, static_cast<double>(r));
}

Napi::Value FcntlSetNonblock(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd;
  if (!GetFd(info, 0, &fd)) return env.Undefined();
  bool on = info.Length() > 1 && info[1].ToBoolean().Value();
  int fl = ::fcntl(fd, F_GETFL);
  if (fl < 0) {
    ThrowErrno(env, errno, "fcntl", FdStr(fd) + ", F_GETFL");
    return env.Undefined();
  }
  int nfl = on ? (fl | O_NONBLOCK) : (fl & ~O_NONBLOCK);
  if (nfl != fl && ::fcntl(fd, F_SETFL, nfl) < 0) ThrowErrno(env, errno, "fcntl", FdStr(fd) + ", F_SETFL");
  return env.Undefined();
}

// ---------------------------------------------------------------------------------------------
// eventfd

Napi::Value Eventfd(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int64_t initval = 0, flags = 0;
  if (info.Length() > 0 && !GetInt(info, 0, "initval", &initval)) return env.Undefined();
  if (info.Length() > 1 && !GetInt(info, 1, "flags", &flags)) return env.Undefined();
  int fd = ::eventfd(static_cast<unsigned>(initval), static_cast<int>(flags) | EFD_CLOEXEC);
  if (fd < 0) {
    ThrowErrno(env, errno, "eventfd", std::to_string(initval) + ", " + Hex(static_cast<uint64_t>(flags)));
    return env.Undefined();
  }
  return Napi::Number::New(env, fd);
}

Napi::Value EventfdRead(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd;
  if (!GetFd(info, 0, &fd)) return env.Undefined();
  uint64_t v = 0;
  ssize_t r;
  do {
    r = ::read(fd, &v, sizeof v);
  } while (r < 0 && errno == EINTR);
  if (r < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK) return env.Null();
    ThrowErrno(env, errno, "read", FdStr(fd) + ", 8");
    return env.Undefined();
  }
  if (r != sizeof v) {
    ThrowErrno(env, EIO, "read", FdStr(fd) + ", 8", "short eventfd read");
    return env.Undefined();
  }
  return Napi::BigInt::New(env, v);
}

Napi::Value EventfdWrite(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd;
  int64_t value;
  if (!GetFd(info, 0, &fd) || !GetInt(info, 1, "value", &value)) return env.Undefined();
  uint64_t v = static_cast<uint64_t>(value);
  ssize_t r;
  do {
    r = ::write(fd, &v, sizeof v);
  } while (r < 0 && errno == EINTR);
  if (r < 0) ThrowErrno(env, errno, "write", FdStr(fd) + ", 8");
  return env.Undefined();
}

// ---------------------------------------------------------------------------------------------
// fd watching on the calling thread's libuv loop

constexpr int kWatchReadable = 1;
constexpr int kWatchWritable = 2;
constexpr int kWatchError = 4;

struct Watcher {
  uv_poll_t poll;
  napi_env env = nullptr;
  Napi::FunctionReference callback;
  napi_async_context asyncContext = nullptr;
  int fd = -1;
  bool active = false;        // poll started and not yet stopped
  bool closeDone = false;     // uv_close callback ran (or loop is gone)
  bool handleFinalized = false;  // the JS handle object was garbage collected
  bool cleanupHook = false;
};

void MaybeDelete(Watcher* w) {
  if (w->closeDone && w->handleFinalized) delete w;
}

void ReleaseJs(Watcher* w) {
  if (!w->callback.IsEmpty()) w->callback.Reset();
  if (w->asyncContext != nullptr) {
    napi_async_destroy(w->env, w->asyncContext);
    w->asyncContext = nullptr;
  }
}

void OnClosed(uv_handle_t* h) {
  Watcher* w = static_cast<Watcher*>(h->data);
  w->closeDone = true;
  MaybeDelete(w);
}

void CleanupHook(void* arg);

// Stops the poll and releases JS references; the handle memory goes when both the uv close
// callback and the JS handle finalizer have run.
void StopWatcher(Watcher* w, bool fromCleanupHook) {
  if (!w->active) return;
  w->active = false;
  uv_poll_stop(&w->poll);
  if (w->cleanupHook && !fromCleanupHook) napi_remove_env_cleanup_hook(w->env, CleanupHook, w);
  w->cleanupHook = false;
  ReleaseJs(w);
  uv_close(reinterpret_cast<uv_handle_t*>(&w->poll), OnClosed);
}

void CleanupHook(void* arg) { StopWatcher(static_cast<Watcher*>(arg), true); }

void OnPoll(uv_poll_t* h, int status, int events) {
  Watcher* w = static_cast<Watcher*>(h->data);
  if (!w->active) return;
  int mask = 0;
  if (status < 0) {
    mask = kWatchError;
  } else {
    if (events & UV_READABLE) mask |= kWatchReadable;
    if (events & UV_WRITABLE) mask |= kWatchWritable;
    if (events & UV_DISCONNECT) mask |= kWatchError;
  }
  Napi::Env env(w->env);
  Napi::HandleScope scope(env);
  napi_value argv[1];
  napi_create_int32(w->env, mask, &argv[0]);
  napi_value global;
  napi_get_global(w->env, &global);
  napi_value result;
  napi_status st = napi_make_callback(w->env, w->asyncContext, global, w->callback.Value(), 1, argv, &result);
  if (st == napi_pending_exception) {
    napi_value err;
    napi_get_and_clear_last_exception(w->env, &err);
    napi_fatal_exception(w->env, err);
  }
}

void FinalizeHandle(napi_env /*env*/, void* data, void* /*hint*/) {
  Watcher* w = static_cast<Watcher*>(data);
  w->handleFinalized = true;
  MaybeDelete(w);
}

Napi::Value WatchFd(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd;
  int64_t events;
  if (!GetFd(info, 0, &fd) || !GetInt(info, 1, "events", &events)) return env.Undefined();
  if (info.Length() < 3 || !info[2].IsFunction()) {
    ThrowType(env, "watchFd: callback must be a function");
    return env.Undefined();
  }
  if ((events & ~(kWatchReadable | kWatchWritable)) != 0 || events == 0) {
    ThrowType(env, "watchFd: events must be a non-empty combination of 1 (readable) and 2 (writable), got " +
                       std::to_string(events));
    return env.Undefined();
  }
  uv_loop_t* loop = nullptr;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok || loop == nullptr) {
    Napi::Error::New(env, "watchFd: no libuv loop for this thread").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  Watcher* w = new Watcher();
  w->env = env;
  w->fd = fd;
  int r = uv_poll_init(loop, &w->poll, fd);
  if (r < 0) {
    delete w;
    ThrowErrno(env, -r, "uv_poll_init", FdStr(fd));
    return env.Undefined();
  }
  w->poll.data = w;
  int uvEvents = ((events & kWatchReadable) ? UV_READABLE : 0) | ((events & kWatchWritable) ? UV_WRITABLE : 0);
  r = uv_poll_start(&w->poll, uvEvents, OnPoll);
  if (r < 0) {
    w->handleFinalized = true;  // no JS handle will exist
    uv_close(reinterpret_cast<uv_handle_t*>(&w->poll), OnClosed);
    ThrowErrno(env, -r, "uv_poll_start", FdStr(fd));
    return env.Undefined();
  }
  w->active = true;
  w->callback = Napi::Persistent(info[2].As<Napi::Function>());
  napi_async_init(env, nullptr, Napi::String::New(env, "kvm-sys:watchFd"), &w->asyncContext);
  if (napi_add_env_cleanup_hook(env, CleanupHook, w) == napi_ok) w->cleanupHook = true;

  Napi::Object handle = Napi::Object::New(env);
  handle.Set("fd", Napi::Number::New(env, fd));
  napi_wrap(env, handle, w, FinalizeHandle, nullptr, nullptr);
  return handle;
}

Napi::Value UnwatchFd(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsObject()) {
    ThrowType(env, "unwatchFd: argument must be a handle returned by watchFd");
    return env.Undefined();
  }
  void* data = nullptr;
  if (napi_unwrap(env, info[0], &data) != napi_ok || data == nullptr) {
    // napi_unwrap leaves a pending exception on failure; replace it with a clear one.
    napi_value ignored;
    napi_get_and_clear_last_exception(env, &ignored);
    ThrowType(env, "unwatchFd: argument must be a handle returned by watchFd");
    return env.Undefined();
  }
  StopWatcher(static_cast<Watcher*>(data), false);  // idempotent
  return env.Undefined();
}

// ---------------------------------------------------------------------------------------------
// vCPU kick

std::once_flag g_kickOnce;
int g_kickSignal = 0;
int g_kickInstallErr = 0;

void KickHandler(int) {}  // no-op: its only job is to make KVM_RUN return EINTR

// Threads that may be kicked: those that called installKickSignal() and have not exited. A
// thread_local destructor removes a thread at exit, under the same lock kickThread holds while
// signalling, so pthread_kill never sees a dead thread (which would be undefined behaviour).
std::mutex g_kickMutex;
std::set<pthread_t> g_kickable;
struct KickRegistration {
  bool registered = false;
  ~KickRegistration() {
    if (!registered) return;
    std::lock_guard<std::mutex> lock(g_kickMutex);
    g_kickable.erase(pthread_self());
  }
};
thread_local KickRegistration t_kickRegistration;

Napi::Value InstallKickSignal(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::call_once(g_kickOnce, [] {
    // glibc reserves the first two realtime signals (SIGRTMIN already skips them); Node and libuv
    // use none of the realtime range. rust-vmm uses SIGRTMIN+0; we use +4 to stay clear of it
    // and of other embedders that grab the first ones.
    int sig = SIGRTMIN + 4;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = KickHandler;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0;  // deliberately no SA_RESTART: the interrupted ioctl must fail with EINTR
    if (sigaction(sig, &sa, nullptr) < 0) {
      g_kickInstallErr = errno;
    } else {
      g_kickSignal = sig;
    }
  });
  if (g_kickSignal == 0) {
    ThrowErrno(env, g_kickInstallErr, "sigaction", "SIGRTMIN+4");
    return env.Undefined();
  }
  // Make sure the calling thread can receive it (a thread may inherit a blocked mask).
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, g_kickSignal);
  pthread_sigmask(SIG_UNBLOCK, &set, nullptr);
  {
    std::lock_guard<std::mutex> lock(g_kickMutex);
    g_kickable.insert(pthread_self());
    t_kickRegistration.registered = true;
  }
  return Napi::Number::New(env, g_kickSignal);
}

Napi::Value CurrentThread(const Napi::CallbackInfo& info) {
  return Napi::BigInt::New(info.Env(), static_cast<uint64_t>(pthread_self()));
}

Napi::Value KickThread(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsBigInt()) {
    ThrowType(env, "kickThread: thread must be a bigint from currentThread()");
    return env.Undefined();
  }
  bool lossless = false;
  uint64_t t = info[0].As<Napi::BigInt>().Uint64Value(&lossless);
  if (g_kickSignal == 0) {
    // Without a handler the default action of a realtime signal terminates the process.
    ThrowErrno(env, EINVAL, "pthread_kill", Hex(t), "installKickSignal() was not called");
    return env.Undefined();
  }
  int r;
  {
    std::lock_guard<std::mutex> lock(g_kickMutex);
    if (g_kickable.count(static_cast<pthread_t>(t)) == 0) {
      r = ESRCH;
    } else {
      r = pthread_kill(static_cast<pthread_t>(t), g_kickSignal);
    }
  }
  if (r == ESRCH) {
    ThrowErrno(env, r, "pthread_kill", Hex(t),
               "not a live thread that called installKickSignal() (it never did, or it has exited)");
  } else if (r != 0) {
    ThrowErrno(env, r, "pthread_kill", Hex(t));
  }
  return env.Undefined();
}

// ---------------------------------------------------------------------------------------------

Napi::Object Init(Napi::Env env, Napi::Object exports) {
#define FN(name, impl) exports.Set(name, Napi::Function::New(env, impl, name))
  FN("open", Open);
  FN("close", Close);
  FN("ioctl", Ioctl);
  FN("ioctlFast", IoctlFast);
  FN("mmap", Mmap);
  FN("munmap", Munmap);
  FN("addressOf", AddressOf);
  FN("memfdCreate", MemfdCreate);
  FN("ftruncate", Ftruncate);
  FN("read", Read);
  FN("write", Write);
  FN("fcntlSetNonblock", FcntlSetNonblock);
  FN("eventfd", Eventfd);
  FN("eventfdRead", EventfdRead);
  FN("eventfdWrite", EventfdWrite);
  FN("watchFd", WatchFd);
  FN("unwatchFd", UnwatchFd);
  FN("installKickSignal", InstallKickSignal);
  FN("currentThread", CurrentThread);
  FN("kickThread", KickThread);
#undef FN
  return exports;
}

}  // namespace

NODE_API_MODULE(kvm_sys, Init)
