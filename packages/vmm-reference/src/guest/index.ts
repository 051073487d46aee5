export {
  buildDefaultGuest,
  DEFAULT_GUEST_MODULES,
  fetchKernel,
  findFetchKernelScript,
  type GuestBuildOptions,
  initramfsEntries,
  modulesDepFor,
} from './builder.js';
export { cacheDir, cachedGuest, type GuestManifest, manifestPath } from './cache.js';
export { type CpioEntry, readCpio, S_IFCHR, S_IFDIR, S_IFLNK, S_IFREG, writeCpio } from './cpio.js';
export { BOOT_TIMER_PARAM, INIT_READY_MARKER, initScript, RUN_PARAM, runParameter } from './init-script.js';
export { moduleDepends, readModinfo } from './modinfo.js';
export { type ModuleDeps, moduleName, orderModules, parseModulesDep } from './modules-dep.js';
