// The worker is started through a small loader (node -e) that compiles agent.js with V8's code
// cache: a warm start skips compiling what the previous start compiled (about 40 M instructions).
//
// V8 checks only the source's length, its own version and flags, so the file starts with a key of
// the bundle's identity (dev, inode, size, mtime), the Node version and the exec flags: a cache of
// another version or build is never used. The cache is read only when it is a regular file owned
// by us (O_NOFOLLOW: not a symlink), and written after ready, once, 0600, through x.new and rename,
// never while the supervisor records frozen file systems.
//
// A cache V8 accepts can still be wrong: V8 checks no checksum of its contents in a release build,
// and a cache damaged on disk past its header makes the worker die of SIGSEGV or SIGTRAP at every
// start. So after a worker dies of a fault signal, or crashes before it is ready, the supervisor
// starts the next one with the cache set aside: compiled afresh, and the cache rewritten after ready.
//
// The loader also opens the worker's IPC channel, which Node would open before any script under the
// worker's V8 flags. Any V8 flag that is not at its default changes V8's flag hash, and V8 then
// refuses Node's own code cache for every built-in module loaded meanwhile: the channel's modules
// (child_process, net, dgram, the streams) were compiled from source at every start, about 10 ms
// here. So the loader sets those flags back to V8's defaults while it opens the channel, then sets
// them again. The heap's sizes were fixed when V8 created the heap, and stay; the memory reducer
// reads its start delay only when the old generation first grows, later.

/** The cache file of a bundle, in the state directory (on disk: the plans' RAM is small). */
export function codeCacheFile(stateDir: string, agentPath: string): string {
  return `${stateDir}/${agentPath.slice(agentPath.lastIndexOf('/') + 1)}.v8-cache`;
}

/** After ready, when the functions worth caching have been compiled; off the first reply's path. */
export const CODE_CACHE_WRITE_DELAY_MS = 2000;

/** The IPC channel the loader opens: its fd, the worker's V8 flags and V8's defaults of the same flags. */
export interface LoaderChannel { fd: number; v8Flags: string; v8Defaults: string }

/**
 * The loader's source, run as `node -e SOURCE agent.js cache-file frozen-record [why-set-aside]` so
 * that process.argv[1] stays the bundle's path. Self-contained: its text is all the worker gets (no
 * imports, no outer names).
 */
export function codeCacheLoaderSource(channel?: LoaderChannel): string {
  return `(${loader.toString()})(require, process.argv[1], process.argv[2], process.argv[3], ${CODE_CACHE_WRITE_DELAY_MS}, ${JSON.stringify(channel ?? null)}, process.argv[4])`;
}

/** The supervisor's record of frozen file systems: while it exists, the cache waits (a write would block the worker). */
export function frozenRecordFile(runDir: string): string {
  return `${runDir}/frozen.json`;
}

function loader(req: NodeRequire, agent: string, cacheFile: string, frozenRecord: string | undefined, delayMs: number, channel: LoaderChannel | null, setAside: string | undefined): void {
  type V8Binding = { setFlagsFromString(flags: string): void };
  let v8: V8Binding | null = null;
  const quiet = process.noDeprecation;
  // process.binding: the v8 module would load the streams first, under the worker's flags.
  if (channel) try { process.noDeprecation = true; v8 = (process as unknown as { binding(n: string): V8Binding }).binding('v8'); } catch { /* none: the flags stay */ } finally { process.noDeprecation = quiet; }
  v8?.setFlagsFromString(channel!.v8Defaults);
  let fs: typeof import('fs'), vm: typeof import('vm'), Module: typeof import('module') & { wrap(s: string): string };
  try {
    // A channel that Node opened itself (a runtime that took the supervisor's second NODE_CHANNEL_FD) is kept.
    if (channel && !process.send) {
      const mode = process.env.NODE_CHANNEL_SERIALIZATION_MODE || 'json';
      // As Node does: the worker's own children must not take the channel for theirs.
      delete process.env.NODE_CHANNEL_FD;
      delete process.env.NODE_CHANNEL_SERIALIZATION_MODE;
      // What Node's own start calls to open it; a runtime without it ends the worker at once, said on its stderr.
      (req('child_process') as unknown as { _forkChild(fd: number, mode: string): void })._forkChild(channel.fd, mode);
    }
    fs = req('fs') as typeof import('fs');
    vm = req('vm') as typeof import('vm');
    Module = req('module') as typeof Module;
  } finally { v8?.setFlagsFromString(channel!.v8Flags); }
  // As Node does for a main module: __dirname is the real directory (agent-rare.js is taken beside it).
  const file = fs.realpathSync(agent);
  const dir = file.slice(0, file.lastIndexOf('/'));
  let src = fs.readFileSync(file, 'utf8');
  // The shebang is only valid at the very start of a script, not inside the module wrapper.
  if (src.startsWith('#!')) src = `//${src.slice(2)}`;
  const st = fs.statSync(file, { bigint: true });
  const flags = process.execArgv.filter((a) => a.startsWith('--')).join(' ');
  const key = Buffer.from(`phoenix-ga v8 cache 1 ${st.dev} ${st.ino} ${st.size} ${st.mtimeNs} ${process.version} ${flags}\n`);
  let cached: Buffer | undefined;
  let why = setAside || 'none';
  if (!setAside) try {
    const fd = fs.openSync(cacheFile, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW | fs.constants.O_NONBLOCK);
    try {
      const s = fs.fstatSync(fd);
      if (!s.isFile() || s.uid !== process.getuid?.()) why = 'not a regular file of ours';
      // A cache is about the bundle's size: a bigger file is not one, and is not read whole.
      else if (s.size > 1 << 24) why = `${s.size} bytes`;
      else {
        const b = fs.readFileSync(fd);
        if (b.length > key.length && b.subarray(0, key.length).equals(key)) cached = b.subarray(key.length);
        else why = 'of another build';
      }
    } finally { fs.closeSync(fd); }
  } catch { /* none yet, or a symlink (ELOOP): compiled without */ }
  const script = new vm.Script(Module.wrap(src), { filename: file, cachedData: cached });
  if (cached && script.cachedDataRejected) why = 'rejected by V8';
  const mod = new Module(file) as InstanceType<typeof Module> & { filename: string };
  mod.filename = file;
  (script.runInThisContext() as (...a: unknown[]) => void).call(mod.exports, mod.exports, Module.createRequire(file), mod, file, dir);
  if (cached && !script.cachedDataRejected) return;
  const write = (): void => {
    // The worker freezes only after the supervisor has recorded it, and this runs on the worker's
    // one thread: no record now means no freeze until this write is done.
    if (frozenRecord && fs.existsSync(frozenRecord)) { setTimeout(write, 5 * delayMs).unref(); return; }
    const tmp = `${cacheFile}.new`;
    try {
      const data = script.createCachedData();
      try { fs.unlinkSync(tmp); } catch { /* none left by a crash */ }
      const fd = fs.openSync(tmp, 'wx', 0o600);
      // Synced before the rename: a power cut leaves the old cache or the whole new one, never a torn file.
      try { fs.writeSync(fd, key); fs.writeSync(fd, data); fs.fsyncSync(fd); } finally { fs.closeSync(fd); }
      fs.renameSync(tmp, cacheFile);
      process.stderr.write(`info: code cache written to ${cacheFile} (${data.length} bytes; previous: ${why})\n`);
    } catch (e) {
      process.stderr.write(`warn: code cache not written to ${cacheFile}: ${(e as Error).message}; the worker starts without it\n`);
    }
  };
  setTimeout(write, delayMs).unref();
}
