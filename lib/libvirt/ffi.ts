// The raw koffi binding to the system libvirt.so.0: only the functions
// cloudvamp calls, and the few structs it reads, declared by hand from
// /usr/include/libvirt/*.h (libvirt 9.0, stable ABI since 1.2.x). A wrong
// struct layout here reads garbage or crashes the process, so every struct is
// checked against `virsh` output in test/lib/libvirt/ffi-layout.test.ts, and
// loadLibvirt() asserts the sizes koffi computed before anything is called.
//
// Nothing outside lib/libvirt imports this file; client.ts wraps it in the
// typed Hypervisor interface. Loading is lazy so that importing the client (or
// just its types) never needs libvirt.so.0 on the machine.

import koffi from 'koffi';

/** Opaque libvirt pointers, branded so a domain cannot be passed as a connection. */
export type ConnectPtr = { readonly __brand: 'virConnectPtr' };
export type DomainPtr = { readonly __brand: 'virDomainPtr' };
/** Any other C pointer koffi hands back (an External); only decode()d or passed back. */
export type RawPtr = { readonly __brand: 'void*' };
/** A one-element array koffi fills in for a `T *` output parameter. */
export type Out<T> = [T];

export interface VirError {
  code: number;
  domain: number;
  message: string | null;
}

export interface FieldValue {
  field: string;
  value: number;
}

export interface MemoryStat {
  tag: number;
  val: number | bigint;
}

export interface DomainInfoStruct {
  state: number;
  maxMem: number | bigint;
  memory: number | bigint;
  nrVirtCpu: number;
  cpuTime: number | bigint;
}

export interface NodeInfoStruct {
  model: string;
  memory: number | bigint;
  cpus: number;
  mhz: number;
  nodes: number;
  sockets: number;
  cores: number;
  threads: number;
}

/** A virTypedParameter as koffi marshals it in: exactly one union member set. */
export interface TypedParamIn {
  field: string;
  type: number;
  value: { i: number } | { ui: number } | { l: number } | { ul: number } | { d: number } | { b: number } | { s: string };
}

type Callback<T> = (err: unknown, result: T) => void;

export interface Libvirt {
  virInitialize(): number;
  virGetLastError(): RawPtr | null;
  virConnCopyLastError(conn: ConnectPtr, to: RawPtr): number;
  virResetError(err: RawPtr): void;

  virConnectOpen(uri: string): ConnectPtr | null;
  virConnectClose(conn: ConnectPtr): number;
  virConnectGetHostname(conn: ConnectPtr): string | null;
  virConnectGetLibVersion(conn: ConnectPtr, version: Out<number>): number;
  virConnectGetVersion(conn: ConnectPtr, version: Out<number>): number;
  virConnectListAllDomains(conn: ConnectPtr, domains: Out<RawPtr | null>, flags: number): number;
  virConnectGetAllDomainStats(conn: ConnectPtr, stats: number, records: Out<RawPtr | null>, flags: number): number;
  virDomainStatsRecordListFree(records: RawPtr): void;
  virNodeGetInfo(conn: ConnectPtr, info: Out<NodeInfoStruct>): number;
  virNodeGetMemoryStats(conn: ConnectPtr, cell: number, params: FieldValue[] | null, nparams: Out<number>, flags: number): number;
  virNodeGetCPUStats(conn: ConnectPtr, cpu: number, params: FieldValue[] | null, nparams: Out<number>, flags: number): number;

  virDomainLookupByName(conn: ConnectPtr, name: string): DomainPtr | null;
  virDomainLookupByUUIDString(conn: ConnectPtr, uuid: string): DomainPtr | null;
  virDomainLookupByID(conn: ConnectPtr, id: number): DomainPtr | null;
  virDomainCreateXML(conn: ConnectPtr, xml: string, flags: number): DomainPtr | null;
  virDomainDefineXML(conn: ConnectPtr, xml: string): DomainPtr | null;
  virDomainRestore(conn: ConnectPtr, from: string): number;

  virDomainFree(dom: DomainPtr | RawPtr): number;
  virDomainGetName(dom: DomainPtr | RawPtr): string | null;
  virDomainGetUUIDString(dom: DomainPtr | RawPtr, buf: Buffer): number;
  virDomainGetState(dom: DomainPtr, state: Out<number>, reason: Out<number>, flags: number): number;
  virDomainGetInfo(dom: DomainPtr | RawPtr, info: Out<DomainInfoStruct>): number;
  virDomainGetXMLDesc(dom: DomainPtr, flags: number): string | null;
  virDomainGetMaxMemory(dom: DomainPtr): number | bigint;
  virDomainSetMemoryFlags(dom: DomainPtr, kib: number, flags: number): number;
  virDomainMemoryStats(dom: DomainPtr, stats: MemoryStat[], nrStats: number, flags: number): number;
  virDomainSetMemoryStatsPeriod(dom: DomainPtr, period: number, flags: number): number;
  virDomainGetMetadata(dom: DomainPtr, type: number, uri: string | null, flags: number): string | null;
  virDomainSetMetadata(dom: DomainPtr, type: number, metadata: string | null, key: string | null, uri: string | null, flags: number): number;
  virDomainCreate(dom: DomainPtr): number;
  virDomainShutdown(dom: DomainPtr): number;
  virDomainDestroy(dom: DomainPtr): number;
  virDomainReboot(dom: DomainPtr, flags: number): number;
  virDomainReset(dom: DomainPtr, flags: number): number;
  virDomainSuspend(dom: DomainPtr): number;
  virDomainResume(dom: DomainPtr): number;
  virDomainSave(dom: DomainPtr, to: string): number;
  virDomainUndefine(dom: DomainPtr): number;
  virDomainIsPersistent(dom: DomainPtr): number;
  virDomainGetJobStats(dom: DomainPtr, type: Out<number>, params: Out<RawPtr | null>, nparams: Out<number>, flags: number): number;
  virTypedParamsFree(params: RawPtr, nparams: number): void;
  virTypedParamsGetULLong(params: TypedParamIn[], nparams: number, name: string, value: Out<number>): number;
  virTypedParamsGetString(params: TypedParamIn[], nparams: number, name: string, value: Out<string | null>): number;

  /** Worker-thread variants: the call blocks in libvirt for the whole migration. */
  async: {
    virDomainMigrateToURI3(dom: DomainPtr, dconnuri: string | null, params: TypedParamIn[], nparams: number, flags: number, cb: Callback<number>): void;
    virDomainMigrate3(dom: DomainPtr, dconn: ConnectPtr, params: TypedParamIn[], nparams: number, flags: number, cb: Callback<DomainPtr | null>): void;
  };

  /** koffi type handles for decoding memory libvirt returned. */
  types: {
    virError: unknown;
    virTypedParameter: unknown;
    virDomainStatsRecord: unknown;
  };
  sizes: { virTypedParameter: number; virError: number };
}

// koffi's type names are process-wide (its native module is loaded once per
// process), while a module instance can be evaluated more than once in one
// process (a test runner re-imports modules per test file): the binding is
// kept on the process, so a second evaluation reuses it instead of declaring
// 'virConnect' again, which koffi rejects.
const LOADED = Symbol.for('cloudvamp.libvirt.binding');
type ProcessSlot = { [LOADED]?: Libvirt };
const slot = globalThis as ProcessSlot;
// Kept reachable for the life of the process: libvirt holds the pointer.
let errorHandler: unknown;
/** kept referenced for as long as the process runs: libxml2 holds a pointer to it */
let xmlErrorHandler: unknown;

/** Loads libvirt.so.0 once and silences its default stderr error printer. */
export function loadLibvirt(): Libvirt {
  const already = slot[LOADED];
  if (already) return already;
  let lib: koffi.IKoffiLib;
  try {
    lib = koffi.load('libvirt.so.0');
  } catch (error) {
    throw new Error('cannot load libvirt.so.0: install the libvirt client library (Debian: libvirt0)', { cause: error });
  }

  koffi.opaque('virConnect');
  koffi.pointer('virConnectPtr', 'virConnect');
  koffi.opaque('virDomain');
  koffi.pointer('virDomainPtr', 'virDomain');

  const virError = koffi.struct('virError', {
    code: 'int',
    domain: 'int',
    message: 'char *',
    level: 'int',
    conn: 'void *',
    dom: 'void *',
    str1: 'char *',
    str2: 'char *',
    str3: 'char *',
    int1: 'int',
    int2: 'int',
    net: 'void *',
  });
  koffi.struct('virNodeInfo', {
    model: 'char[32]',
    memory: 'unsigned long',
    cpus: 'unsigned int',
    mhz: 'unsigned int',
    nodes: 'unsigned int',
    sockets: 'unsigned int',
    cores: 'unsigned int',
    threads: 'unsigned int',
  });
  const typedParamValue = koffi.union('virTypedParameterValue', {
    i: 'int',
    ui: 'unsigned int',
    l: 'long long',
    ul: 'unsigned long long',
    d: 'double',
    b: 'char',
    s: 'char *',
  });
  const virTypedParameter = koffi.struct('virTypedParameter', {
    field: 'char[80]',
    type: 'int',
    value: typedParamValue,
  });
  const virDomainStatsRecord = koffi.struct('virDomainStatsRecord', {
    dom: 'void *',
    params: 'void *',
    nparams: 'int',
  });
  koffi.struct('virDomainInfo', {
    state: 'unsigned char',
    maxMem: 'unsigned long',
    memory: 'unsigned long',
    nrVirtCpu: 'unsigned short',
    cpuTime: 'unsigned long long',
  });
  // virNodeMemoryStats and virNodeCPUStats share this layout.
  koffi.struct('virFieldValue', { field: 'char[80]', value: 'unsigned long long' });
  koffi.struct('virDomainMemoryStat', { tag: 'int', val: 'unsigned long long' });

  const expectSize = (type: unknown, size: number, name: string) => {
    const actual = koffi.sizeof(type as koffi.IKoffiCType);
    if (actual !== size) throw new Error(`libvirt binding bug: sizeof(${name}) is ${actual}, expected ${size}`);
  };
  // x86_64 / aarch64 LP64 sizes from the C headers.
  expectSize(virError, 80, 'virError');
  expectSize('virNodeInfo', 64, 'virNodeInfo');
  expectSize('virDomainInfo', 40, 'virDomainInfo');
  expectSize(virTypedParameter, 96, 'virTypedParameter');
  expectSize(virDomainStatsRecord, 24, 'virDomainStatsRecord');
  expectSize('virFieldValue', 88, 'virNodeMemoryStats');
  expectSize('virDomainMemoryStat', 16, 'virDomainMemoryStat');

  const f = (proto: string) => lib.func(proto);
  const api = {
    virInitialize: f('int virInitialize()'),
    virGetLastError: f('void *virGetLastError()'),
    virConnCopyLastError: f('int virConnCopyLastError(virConnectPtr conn, void *to)'),
    virResetError: f('void virResetError(void *err)'),

    virConnectOpen: f('virConnectPtr virConnectOpen(const char *name)'),
    virConnectClose: f('int virConnectClose(virConnectPtr conn)'),
    virConnectGetHostname: f('char *! virConnectGetHostname(virConnectPtr conn)'),
    virConnectGetLibVersion: f('int virConnectGetLibVersion(virConnectPtr conn, _Out_ unsigned long *libVer)'),
    virConnectGetVersion: f('int virConnectGetVersion(virConnectPtr conn, _Out_ unsigned long *hvVer)'),
    virConnectListAllDomains: f('int virConnectListAllDomains(virConnectPtr conn, _Out_ void **domains, unsigned int flags)'),
    virConnectGetAllDomainStats: f(
      'int virConnectGetAllDomainStats(virConnectPtr conn, unsigned int stats, _Out_ void **retStats, unsigned int flags)',
    ),
    virDomainStatsRecordListFree: f('void virDomainStatsRecordListFree(void *stats)'),
    virNodeGetInfo: f('int virNodeGetInfo(virConnectPtr conn, _Out_ virNodeInfo *info)'),
    virNodeGetMemoryStats: f(
      'int virNodeGetMemoryStats(virConnectPtr conn, int cellNum, _Out_ virFieldValue *params, _Inout_ int *nparams, unsigned int flags)',
    ),
    virNodeGetCPUStats: f(
      'int virNodeGetCPUStats(virConnectPtr conn, int cpuNum, _Out_ virFieldValue *params, _Inout_ int *nparams, unsigned int flags)',
    ),

    virDomainLookupByName: f('virDomainPtr virDomainLookupByName(virConnectPtr conn, const char *name)'),
    virDomainLookupByUUIDString: f('virDomainPtr virDomainLookupByUUIDString(virConnectPtr conn, const char *uuid)'),
    virDomainLookupByID: f('virDomainPtr virDomainLookupByID(virConnectPtr conn, int id)'),
    virDomainCreateXML: f('virDomainPtr virDomainCreateXML(virConnectPtr conn, const char *xml, unsigned int flags)'),
    virDomainDefineXML: f('virDomainPtr virDomainDefineXML(virConnectPtr conn, const char *xml)'),
    virDomainRestore: f('int virDomainRestore(virConnectPtr conn, const char *from)'),

    // void * rather than virDomainPtr: also called on the dom of stats records.
    virDomainFree: f('int virDomainFree(void *dom)'),
    virDomainGetName: f('const char *virDomainGetName(void *dom)'),
    virDomainGetUUIDString: f('int virDomainGetUUIDString(void *dom, _Out_ uint8_t *buf)'),
    virDomainGetInfo: f('int virDomainGetInfo(void *dom, _Out_ virDomainInfo *info)'),
    virDomainGetState: f('int virDomainGetState(virDomainPtr dom, _Out_ int *state, _Out_ int *reason, unsigned int flags)'),
    virDomainGetXMLDesc: f('char *! virDomainGetXMLDesc(virDomainPtr dom, unsigned int flags)'),
    virDomainGetMaxMemory: f('unsigned long virDomainGetMaxMemory(virDomainPtr dom)'),
    virDomainSetMemoryFlags: f('int virDomainSetMemoryFlags(virDomainPtr dom, unsigned long memory, unsigned int flags)'),
    virDomainMemoryStats: f(
      'int virDomainMemoryStats(virDomainPtr dom, _Out_ virDomainMemoryStat *stats, unsigned int nr_stats, unsigned int flags)',
    ),
    virDomainSetMemoryStatsPeriod: f('int virDomainSetMemoryStatsPeriod(virDomainPtr dom, int period, unsigned int flags)'),
    virDomainGetMetadata: f('char *! virDomainGetMetadata(virDomainPtr dom, int type, const char *uri, unsigned int flags)'),
    virDomainSetMetadata: f(
      'int virDomainSetMetadata(virDomainPtr dom, int type, const char *metadata, const char *key, const char *uri, unsigned int flags)',
    ),
    virDomainCreate: f('int virDomainCreate(virDomainPtr dom)'),
    virDomainShutdown: f('int virDomainShutdown(virDomainPtr dom)'),
    virDomainDestroy: f('int virDomainDestroy(virDomainPtr dom)'),
    virDomainReboot: f('int virDomainReboot(virDomainPtr dom, unsigned int flags)'),
    virDomainReset: f('int virDomainReset(virDomainPtr dom, unsigned int flags)'),
    virDomainSuspend: f('int virDomainSuspend(virDomainPtr dom)'),
    virDomainResume: f('int virDomainResume(virDomainPtr dom)'),
    virDomainSave: f('int virDomainSave(virDomainPtr dom, const char *to)'),
    virDomainUndefine: f('int virDomainUndefine(virDomainPtr dom)'),
    virDomainIsPersistent: f('int virDomainIsPersistent(virDomainPtr dom)'),
    virDomainGetJobStats: f(
      'int virDomainGetJobStats(virDomainPtr dom, _Out_ int *type, _Out_ void **params, _Out_ int *nparams, unsigned int flags)',
    ),
    virTypedParamsFree: f('void virTypedParamsFree(void *params, int nparams)'),
    virTypedParamsGetULLong: f(
      'int virTypedParamsGetULLong(virTypedParameter *params, int nparams, const char *name, _Out_ unsigned long long *value)',
    ),
    virTypedParamsGetString: f(
      'int virTypedParamsGetString(virTypedParameter *params, int nparams, const char *name, _Out_ const char **value)',
    ),
  };
  const migrateToURI3 = f(
    'int virDomainMigrateToURI3(virDomainPtr dom, const char *dconnuri, virTypedParameter *params, unsigned int nparams, unsigned int flags)',
  );
  const migrate3 = f(
    'virDomainPtr virDomainMigrate3(virDomainPtr dom, virConnectPtr dconn, virTypedParameter *params, unsigned int nparams, unsigned int flags)',
  );

  // libvirt's default handler prints every error to stderr, including ones we
  // handle (a missing domain during lookup). Errors are read back with
  // virGetLastError instead. The handler may be invoked on a koffi worker thread
  // (async migration); koffi then queues it to the main thread, which is why it
  // must stay trivial.
  const virErrorFunc = koffi.proto('void virErrorFunc(void *userData, void *error)');
  errorHandler = koffi.register(() => {}, koffi.pointer(virErrorFunc));
  const setErrorFunc = lib.func('void virSetErrorFunc(void *userData, virErrorFunc *handler)');
  if (api.virInitialize() < 0) throw new Error('virInitialize failed: libvirt.so.0 could not initialise');
  setErrorFunc(null, errorHandler);
  silenceLibxml2();

  const loaded: Libvirt = {
    ...(api as unknown as Omit<Libvirt, 'async' | 'types' | 'sizes'>),
    async: {
      virDomainMigrateToURI3: migrateToURI3.async,
      virDomainMigrate3: migrate3.async,
    },
    types: { virError, virTypedParameter, virDomainStatsRecord },
    sizes: { virTypedParameter: 96, virError: 80 },
  };
  slot[LOADED] = loaded;
  return loaded;
}

/**
 * libxml2, which libvirt parses XML with, prints its own I/O messages to stderr
 * through its generic error handler (`I/O warning : failed to load external
 * entity "/x.xml"` for a missing test:/// file, `I/O error : Is a directory`)
 * before libvirt reports the same failure as an error we read back. Our
 * executables print one line per failure, so that handler becomes a no-op.
 * The handler is per thread in libxml2; libvirt's XML is parsed on the main
 * thread here. The C type is variadic (`msg, ...`): a callee that ignores its
 * arguments is safe to declare without them. Without libxml2 under a known
 * soname (2.14 renamed it .so.16) the messages stay, nothing else changes.
 */
function silenceLibxml2(): void {
  for (const soname of ['libxml2.so.2', 'libxml2.so.16']) {
    let xml: koffi.IKoffiLib;
    try {
      xml = koffi.load(soname);
    } catch {
      continue;
    }
    const proto = koffi.proto('void xmlGenericErrorFunc(void *ctx, const char *msg)');
    xmlErrorHandler = koffi.register(() => {}, koffi.pointer(proto));
    xml.func('void xmlSetGenericErrorFunc(void *ctx, xmlGenericErrorFunc *handler)')(null, xmlErrorHandler);
    return;
  }
}

/** Decodes a `T` at `offset` bytes into memory libvirt returned. */
export function decodeAt<T>(ptr: RawPtr, offset: number, type: unknown): T {
  return koffi.decode(ptr, offset, type as koffi.IKoffiCType) as T;
}

/** Decodes `count` consecutive pointers (a C `T **` array). */
export function decodePointers(ptr: RawPtr, count: number): RawPtr[] {
  return koffi.decode(ptr, 'void *', count) as RawPtr[];
}

/** A zeroed virError for virConnCopyLastError; release with virResetError + freeC. */
export function allocVirError(lv: Libvirt): RawPtr {
  const type = lv.types.virError as koffi.IKoffiCType;
  const slot = koffi.alloc(type, 1) as RawPtr;
  // virResetError frees whatever strings the slot points to, so never leave it uninitialised.
  koffi.encode(slot, type, { code: 0, domain: 0, message: null, level: 0, conn: null, dom: null, str1: null, str2: null, str3: null, int1: 0, int2: 0, net: null });
  return slot;
}

/** free(3) for arrays libvirt allocated with g_malloc (same allocator on Linux). */
export function freeC(ptr: RawPtr): void {
  koffi.free(ptr);
}

/** koffi hands back 64-bit integers as bigint only above 2^53; KiB and ns counts stay below. */
export function toNumber(value: number | bigint): number {
  return typeof value === 'bigint' ? Number(value) : value;
}
