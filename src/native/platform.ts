/**
 * Which napi-rs platform this process is, and why an addon did not load.
 *
 * The platform name (`linux-x64-gnu`, `linux-arm64-musl`, `darwin-arm64`,
 * `win32-x64-msvc`, ...) names both a local build,
 * `iron-runtime-analytics.<platform>.node`, and the prebuilt package,
 * `iron-runtime-analytics-<platform>`.
 *
 * On Linux the libc is told apart with the evidence napi-rs's generated loader
 * uses (the process report, the text of `/usr/bin/ldd`, `ldd --version`), plus
 * the presence of a musl loader in `/lib`. The order differs in one place: the
 * process report comes first, because it describes the libc this very process
 * runs on, which is the one a `.node` file has to match. `/usr/bin/ldd`
 * describes the distribution, and a musl Node started on a glibc system (or
 * the reverse) would be misjudged by it.
 *
 * Everything that looks at the machine goes through a {@link LibcProbe}, so the
 * decisions are pure functions that tests feed with any evidence.
 */
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

/** The C library a Linux process runs on, spelled as in napi-rs target names. */
export type Libc = 'gnu' | 'musl';

/** The parts of `process.report.getReport()` the detection reads. */
export interface ProcessReportEvidence {
  header?: { glibcVersionRuntime?: string };
  sharedObjects?: string[];
}

/** Where the libc evidence comes from; each source is asked only if the ones before it were not conclusive. */
export interface LibcProbe {
  /** The process report, or `null` where this Node has none. */
  report(): ProcessReportEvidence | null;
  /** The text of `/usr/bin/ldd`, or `null` if it cannot be read. */
  lddScript(): string | null;
  /** What `ldd --version` prints, stdout and stderr together, or `null` if it cannot run. */
  lddVersion(): string | null;
  /** Whether `/lib` holds a musl dynamic loader (`ld-musl-<arch>.so.1`). */
  muslLoaderPresent(): boolean;
}

/** File names that only musl's loader and libc carry. */
function isMuslObject(path: string): boolean {
  return path.includes('libc.musl-') || path.includes('ld-musl-');
}

/** Decides glibc or musl from the evidence, asking the probe lazily, most direct evidence first. */
export function detectLibc(probe: LibcProbe): Libc {
  const report = probe.report();
  if (report?.header?.glibcVersionRuntime) return 'gnu';
  if (report?.sharedObjects?.some(isMuslObject)) return 'musl';
  const script = probe.lddScript();
  if (script !== null) return script.includes('musl') ? 'musl' : 'gnu';
  // musl's ldd prints its banner on stderr and exits with 1: read both streams, ignore the status.
  const version = probe.lddVersion();
  if (version !== null) return version.includes('musl') ? 'musl' : 'gnu';
  return probe.muslLoaderPresent() ? 'musl' : 'gnu';
}

/** The napi-rs platform name for an OS, a CPU (Node's spelling) and, on Linux, a libc. */
export function platformNameFor(platform: string, arch: string, libc: Libc): string {
  if (platform === 'linux') return `linux-${arch}-${libc}`;
  if (platform === 'win32') return `win32-${arch}-msvc`;
  return `${platform}-${arch}`;
}

/** The probe that looks at this process and this machine. */
export const systemLibcProbe: LibcProbe = {
  report() {
    // `excludeNetwork` exists from Node 20.13 on; @types/node does not know it yet.
    const report = process.report as (NodeJS.ProcessReport & { excludeNetwork?: boolean }) | undefined;
    if (typeof report?.getReport !== 'function') return null;
    if (!('excludeNetwork' in report)) return report.getReport() as ProcessReportEvidence;
    // Network details would cost a DNS look-up per interface; leave the user's setting as it was.
    const excludeNetwork = report.excludeNetwork;
    report.excludeNetwork = true;
    try {
      return report.getReport() as ProcessReportEvidence;
    } finally {
      report.excludeNetwork = excludeNetwork;
    }
  },
  lddScript() {
    try {
      return readFileSync('/usr/bin/ldd', 'utf8');
    } catch {
      return null;
    }
  },
  lddVersion() {
    const run = spawnSync('ldd', ['--version'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 5_000 });
    if (run.error) return null;
    return `${run.stdout}${run.stderr}`;
  },
  muslLoaderPresent() {
    try {
      return readdirSync('/lib').some((name) => name.startsWith('ld-musl-'));
    } catch {
      return false;
    }
  },
};

let libcOfThisProcess: Libc | undefined;

/** The libc this process runs on (`null` off Linux), detected once. */
export function processLibc(): Libc | null {
  if (process.platform !== 'linux') return null;
  libcOfThisProcess ??= detectLibc(systemLibcProbe);
  return libcOfThisProcess;
}

/** The napi-rs platform name of this process, e.g. `linux-x64-gnu`. */
export function platformName(): string {
  return platformNameFor(process.platform, process.arch, processLibc() ?? 'gnu');
}

// ---------------------------------------------------------------------------
// What a binary file was built for
// ---------------------------------------------------------------------------

/** What the first bytes of a native module say about the platform it was built for. */
export interface BinaryFacts {
  /** The container format: Linux uses ELF, macOS Mach-O, Windows PE. */
  format: 'elf' | 'mach-o' | 'pe' | 'unknown';
  /** The CPU in Node's spelling (`x64`, `arm64`, ...), when the format says. */
  arch: string | null;
  /** For ELF: the libc the file links against, from its `DT_NEEDED` entries; `null` if none is named. */
  libc: Libc | null;
}

/** ELF `e_machine` values, in Node's `process.arch` spelling. */
const ELF_MACHINES: Record<number, string> = {
  3: 'ia32',
  8: 'mips',
  20: 'ppc',
  21: 'ppc64',
  22: 's390x',
  40: 'arm',
  62: 'x64',
  183: 'arm64',
  243: 'riscv64',
  258: 'loong64',
};

const PT_LOAD = 1;
const PT_DYNAMIC = 2;
const DT_NULL = 0;
const DT_NEEDED = 1;
const DT_STRTAB = 5;

/** Reads ELF integers of the file's width and byte order; a read past the end gives `null`. */
class ElfReader {
  private readonly view: DataView;

  constructor(
    readonly bytes: Uint8Array,
    readonly is64: boolean,
    private readonly littleEndian: boolean,
  ) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  u16(offset: number): number | null {
    return offset + 2 <= this.bytes.length ? this.view.getUint16(offset, this.littleEndian) : null;
  }

  u32(offset: number): number | null {
    return offset + 4 <= this.bytes.length ? this.view.getUint32(offset, this.littleEndian) : null;
  }

  /** An address-sized field (Elf64_Addr/Off/Xword or their 32-bit forms) as a number. */
  word(offset: number): number | null {
    if (!this.is64) return this.u32(offset);
    if (offset + 8 > this.bytes.length) return null;
    const value = this.view.getBigUint64(offset, this.littleEndian);
    return value <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(value) : null;
  }

  cString(offset: number): string | null {
    if (offset < 0 || offset >= this.bytes.length) return null;
    const end = this.bytes.indexOf(0, offset);
    if (end < 0) return null;
    return new TextDecoder().decode(this.bytes.subarray(offset, end));
  }
}

/** The `DT_NEEDED` names of an ELF shared object: the libraries it asks the loader for. */
function elfNeeded(elf: ElfReader): string[] {
  const w = elf.is64 ? 8 : 4;
  const phoff = elf.word(elf.is64 ? 32 : 28);
  const phentsize = elf.u16(elf.is64 ? 54 : 42);
  const phnum = elf.u16(elf.is64 ? 56 : 44);
  if (phoff === null || phentsize === null || phnum === null) return [];
  const loads: { vaddr: number; offset: number; size: number }[] = [];
  let dynamic: { offset: number; size: number } | null = null;
  for (let i = 0; i < phnum; i++) {
    const at = phoff + i * phentsize;
    const type = elf.u32(at);
    // Elf64_Phdr: type, flags, offset, vaddr, paddr, filesz; Elf32_Phdr: type, offset, vaddr, paddr, filesz.
    const offset = elf.word(elf.is64 ? at + 8 : at + 4);
    const vaddr = elf.word(elf.is64 ? at + 16 : at + 8);
    const size = elf.word(elf.is64 ? at + 32 : at + 16);
    if (type === null || offset === null || vaddr === null || size === null) return [];
    if (type === PT_LOAD) loads.push({ vaddr, offset, size });
    if (type === PT_DYNAMIC) dynamic = { offset, size };
  }
  if (dynamic === null) return [];
  const neededOffsets: number[] = [];
  let strtabAddress: number | null = null;
  for (let at = dynamic.offset; at + 2 * w <= dynamic.offset + dynamic.size; at += 2 * w) {
    const tag = elf.word(at);
    const value = elf.word(at + w);
    if (tag === null || value === null || tag === DT_NULL) break;
    if (tag === DT_NEEDED) neededOffsets.push(value);
    if (tag === DT_STRTAB) strtabAddress = value;
  }
  if (strtabAddress === null) return [];
  const address = strtabAddress;
  const segment = loads.find((load) => address >= load.vaddr && address < load.vaddr + load.size);
  if (!segment) return [];
  const strtab = address - segment.vaddr + segment.offset;
  return neededOffsets.map((offset) => elf.cString(strtab + offset)).filter((name): name is string => name !== null);
}

/** The libc a list of needed libraries names: glibc's `libc.so.6`, or musl's `libc.so` / `libc.musl-*` / `ld-musl-*`. */
export function libcOfNeeded(needed: readonly string[]): Libc | null {
  if (needed.some((name) => name === 'libc.so' || isMuslObject(name))) return 'musl';
  if (needed.some((name) => name.startsWith('libc.so.'))) return 'gnu';
  return null;
}

/** Reads the format, CPU and (for ELF) libc from a native module's bytes. */
export function binaryFacts(bytes: Uint8Array): BinaryFacts {
  const magic = Array.from(bytes.subarray(0, 4), (b) => b.toString(16).padStart(2, '0')).join('');
  if (magic === '7f454c46') {
    const is64 = bytes[4] === 2;
    const elf = new ElfReader(bytes, is64, bytes[5] !== 2);
    const machine = elf.u16(18);
    const arch = machine === null ? null : (ELF_MACHINES[machine] ?? `ELF machine ${machine}`);
    return { format: 'elf', arch, libc: libcOfNeeded(elfNeeded(elf)) };
  }
  // Mach-O thin (either byte order) or universal ("fat") binaries.
  if (['feedfacf', 'cffaedfe', 'feedface', 'cefaedfe', 'cafebabe'].includes(magic)) {
    const cpu = magic === 'cffaedfe' ? new DataView(bytes.buffer, bytes.byteOffset).getUint32(4, true) : null;
    const arch = cpu === 0x01000007 ? 'x64' : cpu === 0x0100000c ? 'arm64' : null;
    return { format: 'mach-o', arch, libc: null };
  }
  if (magic.startsWith('4d5a')) return { format: 'pe', arch: null, libc: null };
  return { format: 'unknown', arch: null, libc: null };
}

// ---------------------------------------------------------------------------
// Load failures
// ---------------------------------------------------------------------------

/** One place the loader looked: a file path or a package name, and what `require` threw. */
export interface LoadAttempt {
  candidate: string;
  error: unknown;
}

/** The process an addon has to match. */
export interface HostFacts {
  platform: string;
  arch: string;
  /** `null` off Linux. */
  libc: Libc | null;
  nodeVersion: string;
}

/** How the error helper reaches the file system; tests pass their own. */
export interface LoadFailureIo {
  /** The file a candidate resolves to, or `null` if it resolves to none (a package that is not installed). */
  resolve(candidate: string): string | null;
  /** A file's bytes, or `null` if it cannot be read. */
  read(file: string): Uint8Array | null;
}

/** This process, as {@link HostFacts}. */
export function currentHost(): HostFacts {
  return { platform: process.platform, arch: process.arch, libc: processLibc(), nodeVersion: process.version };
}

const OS_OF_FORMAT: Record<BinaryFacts['format'], string | null> = { elf: 'linux', 'mach-o': 'darwin', pe: 'win32', unknown: null };
const FORMAT_LABEL: Record<BinaryFacts['format'], string> = { elf: 'a Linux (ELF)', 'mach-o': 'a macOS (Mach-O)', pe: 'a Windows (PE)', unknown: 'an unknown' };

/** The napi-rs platform a binary belongs to, when its facts say enough. */
function platformOfBinary(facts: BinaryFacts): string | null {
  const os = OS_OF_FORMAT[facts.format];
  if (os === null || facts.arch === null) return null;
  if (os === 'linux') return facts.libc ? platformNameFor(os, facts.arch, facts.libc) : null;
  return platformNameFor(os, facts.arch, 'gnu');
}

/** Why a file that exists did not load: a platform mismatch if its header shows one, else the loader's own message. */
function mismatch(facts: BinaryFacts, host: HostFacts): string | null {
  const hostOs = host.platform;
  const fileOs = OS_OF_FORMAT[facts.format];
  const libcName = (libc: Libc): string => (libc === 'gnu' ? 'glibc' : 'musl');
  const belongs = platformOfBinary(facts);
  const elsewhere = belongs ? ` (it belongs in iron-runtime-analytics-${belongs})` : '';
  if (fileOs === null) return 'the file is not a native module (no ELF, Mach-O or PE header)';
  if (fileOs !== hostOs) return `the file is ${FORMAT_LABEL[facts.format]} binary, but this process runs on ${hostOs}${elsewhere}`;
  if (facts.arch !== null && facts.arch !== host.arch) return `the file is built for ${facts.arch}, but this process is ${host.arch}${elsewhere}`;
  if (fileOs === 'linux' && facts.libc !== null && host.libc !== null && facts.libc !== host.libc) {
    return `the file links ${libcName(facts.libc)}, but this Node runs on ${libcName(host.libc)}${elsewhere}`;
  }
  return null;
}

function firstLine(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return message.split('\n')[0] ?? message;
}

/** One line per attempt: what was tried and why it failed. */
export function describeAttempt(attempt: LoadAttempt, host: HostFacts, io: LoadFailureIo): string {
  const file = io.resolve(attempt.candidate);
  if (file === null) return `${attempt.candidate}: not installed`;
  const bytes = io.read(file);
  const reason = bytes ? mismatch(binaryFacts(bytes), host) : null;
  // dlopen's messages start with the path already.
  const loaderMessage = firstLine(attempt.error).replace(`${file}: `, '');
  return `${file}: ${reason ?? loaderMessage}`;
}

/**
 * The error `IRON_ANALYTICS_IMPL=native` throws when no addon loads: it names
 * the platform, the package that carries its binary, and for each place tried
 * the reason, reading the file's header to tell a wrong CPU or libc from other
 * failures.
 */
export function loadFailureError(platform: string, attempts: readonly LoadAttempt[], host: HostFacts, io: LoadFailureIo): Error {
  const libc = host.libc === null ? '' : `, ${host.libc === 'gnu' ? 'glibc' : 'musl'}`;
  const lines = [
    `iron-runtime-analytics: no native addon loads on ${platform} (${host.platform}/${host.arch}${libc}, Node ${host.nodeVersion}).`,
    `The binary for this platform comes in the package iron-runtime-analytics-${platform}, an optional dependency that npm installs on this platform unless optional dependencies are omitted, or as a local build iron-runtime-analytics.${platform}.node (npm run build:native). Tried:`,
    ...attempts.map((attempt) => `  - ${describeAttempt(attempt, host, io)}`),
  ];
  return new Error(lines.join('\n'));
}

/** A {@link LoadFailureIo} over a `require.resolve` and the real file system. */
export function fileSystemIo(resolve: (candidate: string) => string): LoadFailureIo {
  return {
    resolve(candidate) {
      try {
        return resolve(candidate);
      } catch {
        return null;
      }
    },
    read(file) {
      try {
        // The dynamic section of a shared object sits anywhere in it: read it whole (a few MB, on a failure path only).
        return readFileSync(file);
      } catch {
        return null;
      }
    },
  };
}
