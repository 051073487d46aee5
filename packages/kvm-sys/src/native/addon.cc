// ts-vmm kvm-sys native addon (placeholder: filled in by the kvm-sys work).
#include <napi.h>

static Napi::Object Init(Napi::Env env, Napi::Object exports) { return exports; }

NODE_API_MODULE(kvm_sys, Init)
