// Platform detection and the load-failure error: the decisions are pure
// functions fed with injected evidence (a process report, the text of ldd, a
// binary's bytes); a few checks run them on this machine's real Node and files.
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import {
  binaryFacts,
  currentHost,
  detectLibc,
  fileSystemIo,
  libcOfNeeded,
  loadFailureError,
  platformName,
  platformNameFor,
  processLibc,
  systemLibcProbe,
  type HostFacts,
  type LibcProbe,
  type LoadFailureIo,
  type ProcessReportEvidence,
} from '../src/native/platform.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const work = mkdtempSync(join(tmpdir(), 'iron-platform-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** What the probe was asked, in order, and the evidence it gives. */
function probe(evidence: {
  report?: ProcessReportEvidence | null;
  lddScript?: string | null;
  lddVersion?: string | null;
  muslLoader?: boolean;
}): LibcProbe & { asked: string[] } {
  const asked: string[] = [];
  return {
    asked,
    report: () => (asked.push('report'), evidence.report ?? null),
    lddScript: () => (asked.push('lddScript'), evidence.lddScript ?? null),
    lddVersion: () => (asked.push('lddVersion'), evidence.lddVersion ?? null),
    muslLoaderPresent: () => (asked.push('muslLoader'), evidence.muslLoader ?? false),
  };
}

// Abridged from the real files: Debian's glibc ldd script, Alpine's musl one,
// and what musl's loader prints for `ldd --version` (on stderr, exit status 1).
const GLIBC_LDD = '#! /bin/bash\n# Copyright (C) 1996-2023 Free Software Foundation, Inc.\n# This file is part of the GNU C Library.\nRTLDLIST="/lib64/ld-linux-x86-64.so.2"\n';
const ALPINE_LDD = '#!/bin/sh\nexec /lib/ld-musl-x86_64.so.1 --list "$@"\n';
const MUSL_LDD_VERSION = 'musl libc (x86_64)\nVersion 1.2.5\nDynamic Program Loader\nUsage: /lib/ld-musl-x86_64.so.1 [options] [--] pathname\n';

describe('detectLibc', () => {
  it('a glibc Node says so in its report, and nothing else is asked', () => {
    const p = probe({ report: { header: { glibcVersionRuntime: '2.36' }, sharedObjects: ['/lib/x86_64-linux-gnu/libc.so.6'] } });
    expect(detectLibc(p)).toBe('gnu');
    expect(p.asked).toEqual(['report']);
  });

  it('a musl Node shows its loader among the shared objects of its report', () => {
    const p = probe({ report: { header: {}, sharedObjects: ['/usr/bin/node', '/lib/ld-musl-aarch64.so.1'] }, lddScript: GLIBC_LDD });
    expect(detectLibc(p)).toBe('musl');
    expect(p.asked).toEqual(['report']);
  });

  it('the report wins over /usr/bin/ldd: a musl Node run on a glibc distribution is musl', () => {
    const p = probe({
      report: { header: {}, sharedObjects: ['/opt/musl/lib/ld-musl-x86_64.so.1', '/opt/node/lib/libstdc++-5d72f927.so.6.0.33'] },
      lddScript: GLIBC_LDD,
    });
    expect(detectLibc(p)).toBe('musl');
  });

  it('without a conclusive report, the text of /usr/bin/ldd decides, as in napi-rs', () => {
    expect(detectLibc(probe({ report: null, lddScript: ALPINE_LDD }))).toBe('musl');
    expect(detectLibc(probe({ report: { header: {}, sharedObjects: [] }, lddScript: ALPINE_LDD }))).toBe('musl');
    const glibc = probe({ report: null, lddScript: GLIBC_LDD, lddVersion: MUSL_LDD_VERSION });
    expect(detectLibc(glibc)).toBe('gnu');
    expect(glibc.asked).toEqual(['report', 'lddScript']);
  });

  it('then `ldd --version`, whose musl banner is on stderr, then a musl loader in /lib', () => {
    expect(detectLibc(probe({ lddVersion: MUSL_LDD_VERSION }))).toBe('musl');
    expect(detectLibc(probe({ lddVersion: 'ldd (Debian GLIBC 2.36-9+deb12u10) 2.36\n' }))).toBe('gnu');
    const loaderOnly = probe({ muslLoader: true });
    expect(detectLibc(loaderOnly)).toBe('musl');
    expect(loaderOnly.asked).toEqual(['report', 'lddScript', 'lddVersion', 'muslLoader']);
    expect(detectLibc(probe({}))).toBe('gnu');
  });

  it.runIf(process.platform === 'linux')('on this machine, agrees with the header of this process report', () => {
    const report = process.report.getReport() as ProcessReportEvidence;
    const expected = report.header?.glibcVersionRuntime ? 'gnu' : 'musl';
    expect(detectLibc(systemLibcProbe)).toBe(expected);
    expect(processLibc()).toBe(expected);
    expect(platformName()).toBe(`linux-${process.arch}-${expected}`);
  });

  it('reading the report leaves the user’s excludeNetwork setting as it was', () => {
    const report = process.report as NodeJS.ProcessReport & { excludeNetwork?: boolean };
    const before = report.excludeNetwork;
    expect(systemLibcProbe.report()).not.toBeNull();
    expect(report.excludeNetwork).toBe(before);
  });
});

describe('platformNameFor', () => {
  it('spells the napi-rs target names', () => {
    expect(platformNameFor('linux', 'x64', 'gnu')).toBe('linux-x64-gnu');
    expect(platformNameFor('linux', 'arm64', 'musl')).toBe('linux-arm64-musl');
    expect(platformNameFor('darwin', 'arm64', 'gnu')).toBe('darwin-arm64');
    expect(platformNameFor('win32', 'x64', 'gnu')).toBe('win32-x64-msvc');
  });

  it('names exactly the npm/ packages, whose os/cpu/libc fields say the same platform', () => {
    const manifest = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { optionalDependencies: Record<string, string> };
    const dirs = readdirSync(join(root, 'npm')).sort();
    for (const dir of dirs) {
      const pkg = JSON.parse(readFileSync(join(root, 'npm', dir, 'package.json'), 'utf8')) as {
        name: string;
        os: string[];
        cpu: string[];
        libc?: string[];
        main: string;
      };
      const libc = pkg.libc?.[0] === 'musl' ? 'musl' : 'gnu';
      expect(platformNameFor(pkg.os[0]!, pkg.cpu[0]!, libc)).toBe(dir);
      expect(pkg.name).toBe(`iron-runtime-analytics-${dir}`);
      expect(pkg.main).toBe(`iron-runtime-analytics.${dir}.node`);
      if (pkg.os[0] === 'linux') expect(pkg.libc).toEqual([libc === 'musl' ? 'musl' : 'glibc']);
    }
    expect(Object.keys(manifest.optionalDependencies).sort()).toEqual(dirs.map((dir) => `iron-runtime-analytics-${dir}`));
  });
});

// ---------------------------------------------------------------------------
// ELF files built here, byte by byte: a header, a PT_LOAD covering the file,
// a PT_DYNAMIC whose DT_NEEDED entries point into a DT_STRTAB.
// ---------------------------------------------------------------------------

const EM = { x64: 62, arm64: 183, arm: 40 } as const;

function elf(machine: number, needed: string[], { bits = 64 as 32 | 64, dynamic = true } = {}): Uint8Array {
  const w = bits / 8;
  const ehsize = bits === 64 ? 64 : 52;
  const phentsize = bits === 64 ? 56 : 32;
  const phnum = dynamic ? 2 : 1;
  const strings = ['', ...needed].join('\0') + '\0';
  const nameOffsets = needed.map((_, i) => ['', ...needed].slice(0, i + 1).join('\0').length + 1);
  const dynOffset = ehsize + phnum * phentsize;
  const dynEntries: [number, number][] = dynamic ? [...nameOffsets.map((o): [number, number] => [1, o]), [5, 0], [0, 0]] : [];
  const dynSize = dynEntries.length * 2 * w;
  const strOffset = dynOffset + dynSize;
  const total = strOffset + strings.length;
  const bytes = new Uint8Array(total);
  const view = new DataView(bytes.buffer);
  const word = (at: number, value: number): void => (bits === 64 ? view.setBigUint64(at, BigInt(value), true) : view.setUint32(at, value, true));
  bytes.set([0x7f, 0x45, 0x4c, 0x46, bits === 64 ? 2 : 1, 1, 1]);
  view.setUint16(16, 3, true); // ET_DYN
  view.setUint16(18, machine, true);
  view.setUint32(20, 1, true);
  word(bits === 64 ? 32 : 28, ehsize); // e_phoff
  view.setUint16(bits === 64 ? 54 : 42, phentsize, true);
  view.setUint16(bits === 64 ? 56 : 44, phnum, true);
  const phdr = (index: number, type: number, offset: number, size: number): void => {
    const at = ehsize + index * phentsize;
    view.setUint32(at, type, true);
    // The segment is mapped at vaddr = offset + 0x10000, so a reader must translate addresses.
    if (bits === 64) {
      word(at + 8, offset);
      word(at + 16, offset + 0x10000);
      word(at + 32, size);
    } else {
      word(at + 4, offset);
      word(at + 8, offset + 0x10000);
      word(at + 16, size);
    }
  };
  phdr(0, 1, 0, total);
  if (dynamic) phdr(1, 2, dynOffset, dynSize);
  dynEntries.forEach(([tag, value], i) => {
    word(dynOffset + i * 2 * w, tag);
    word(dynOffset + i * 2 * w + w, tag === 5 ? strOffset + 0x10000 : value);
  });
  bytes.set(new TextEncoder().encode(strings), strOffset);
  return bytes;
}

describe('binaryFacts', () => {
  it('reads the CPU and the libc of ELF shared objects', () => {
    expect(binaryFacts(elf(EM.arm64, ['libgcc_s.so.1', 'libc.so']))).toEqual({ format: 'elf', arch: 'arm64', libc: 'musl' });
    expect(binaryFacts(elf(EM.x64, ['libgcc_s.so.1', 'libm.so.6', 'libc.so.6']))).toEqual({ format: 'elf', arch: 'x64', libc: 'gnu' });
    expect(binaryFacts(elf(EM.arm, ['libc.so.6'], { bits: 32 }))).toEqual({ format: 'elf', arch: 'arm', libc: 'gnu' });
    expect(binaryFacts(elf(EM.x64, [], { dynamic: false }))).toEqual({ format: 'elf', arch: 'x64', libc: null });
    expect(binaryFacts(elf(99, ['libc.so']))).toEqual({ format: 'elf', arch: 'ELF machine 99', libc: 'musl' });
  });

  it('survives a truncated file', () => {
    const whole = elf(EM.arm64, ['libc.so']);
    expect(binaryFacts(whole.subarray(0, 40))).toEqual({ format: 'elf', arch: 'arm64', libc: null });
    expect(binaryFacts(whole.subarray(0, 10))).toEqual({ format: 'elf', arch: null, libc: null });
  });

  it('tells Mach-O and PE files and non-binaries apart', () => {
    const macho = new Uint8Array(16);
    new DataView(macho.buffer).setUint32(0, 0xfeedfacf, true);
    new DataView(macho.buffer).setUint32(4, 0x0100000c, true);
    expect(binaryFacts(macho)).toEqual({ format: 'mach-o', arch: 'arm64', libc: null });
    expect(binaryFacts(new TextEncoder().encode('MZ\x90\0'))).toEqual({ format: 'pe', arch: null, libc: null });
    expect(binaryFacts(new TextEncoder().encode('{"not":"a binary"}'))).toEqual({ format: 'unknown', arch: null, libc: null });
  });

  it('names musl and glibc by the libraries a file needs', () => {
    expect(libcOfNeeded(['libc.musl-x86_64.so.1'])).toBe('musl');
    expect(libcOfNeeded(['libc.so'])).toBe('musl');
    expect(libcOfNeeded(['libc.so.6'])).toBe('gnu');
    expect(libcOfNeeded(['libgcc_s.so.1'])).toBeNull();
  });

  it.runIf(process.platform === 'linux')('reads this machine’s real Node executable', () => {
    expect(binaryFacts(readFileSync(process.execPath))).toEqual({ format: 'elf', arch: process.arch, libc: processLibc() });
  });
});

describe('loadFailureError', () => {
  const host: HostFacts = { platform: 'linux', arch: 'x64', libc: 'gnu', nodeVersion: 'v20.20.0' };
  const files: Record<string, Uint8Array> = {
    '/app/iron-runtime-analytics.linux-x64-gnu.node': elf(EM.arm64, ['libc.so.6']),
    '/app/node_modules/iron-runtime-analytics-linux-x64-gnu/iron-runtime-analytics.linux-x64-gnu.node': elf(EM.x64, ['libc.so']),
    '/app/ok.node': elf(EM.x64, ['libc.so.6']),
  };
  const installed: Record<string, string> = {
    'iron-runtime-analytics-linux-x64-gnu': '/app/node_modules/iron-runtime-analytics-linux-x64-gnu/iron-runtime-analytics.linux-x64-gnu.node',
  };
  const io: LoadFailureIo = {
    resolve: (candidate) => (candidate.startsWith('/') ? candidate : (installed[candidate] ?? null)),
    read: (file) => files[file] ?? null,
  };

  it('names the platform, the package and the local build, then each attempt', () => {
    const error = loadFailureError('linux-x64-gnu', [{ candidate: 'iron-runtime-analytics-linux-x64-gnux', error: new Error("Cannot find module 'x'") }], host, io);
    const lines = error.message.split('\n');
    expect(lines[0]).toBe('iron-runtime-analytics: no native addon loads on linux-x64-gnu (linux/x64, glibc, Node v20.20.0).');
    expect(lines[1]).toContain('the package iron-runtime-analytics-linux-x64-gnu');
    expect(lines[1]).toContain('iron-runtime-analytics.linux-x64-gnu.node (npm run build:native)');
    expect(lines[2]).toBe('  - iron-runtime-analytics-linux-x64-gnux: not installed');
  });

  it('says a file is for another CPU, and which package it belongs in', () => {
    const error = loadFailureError(
      'linux-x64-gnu',
      [{ candidate: '/app/iron-runtime-analytics.linux-x64-gnu.node', error: new Error('/app/iron-runtime-analytics.linux-x64-gnu.node: cannot open shared object file') }],
      host,
      io,
    );
    expect(error.message).toContain(
      '  - /app/iron-runtime-analytics.linux-x64-gnu.node: the file is built for arm64, but this process is x64 (it belongs in iron-runtime-analytics-linux-arm64-gnu)',
    );
  });

  it('says a file links the other libc', () => {
    const error = loadFailureError('linux-x64-gnu', [{ candidate: 'iron-runtime-analytics-linux-x64-gnu', error: new Error('libc.so: cannot open shared object file') }], host, io);
    expect(error.message).toContain(
      'iron-runtime-analytics.linux-x64-gnu.node: the file links musl, but this Node runs on glibc (it belongs in iron-runtime-analytics-linux-x64-musl)',
    );
    const onMusl = loadFailureError('linux-x64-musl', [{ candidate: '/app/ok.node', error: new Error('Error relocating /app/ok.node: __cxa_thread_atexit_impl: symbol not found') }], { ...host, libc: 'musl' }, io);
    expect(onMusl.message).toContain('/app/ok.node: the file links glibc, but this Node runs on musl (it belongs in iron-runtime-analytics-linux-x64-gnu)');
  });

  it('says a file is for another OS, and passes any other loader message through', () => {
    const mac = { ...host, platform: 'darwin', libc: null };
    const error = loadFailureError('darwin-x64', [{ candidate: '/app/ok.node', error: new Error('dlopen failed') }], mac, io);
    expect(error.message).toContain('/app/ok.node: the file is a Linux (ELF) binary, but this process runs on darwin (it belongs in iron-runtime-analytics-linux-x64-gnu)');
    expect(error.message.split('\n')[0]).toBe('iron-runtime-analytics: no native addon loads on darwin-x64 (darwin/x64, Node v20.20.0).');
    const sameTarget = loadFailureError('linux-x64-gnu', [{ candidate: '/app/ok.node', error: new Error('/app/ok.node: undefined symbol: napi_foo\nRequire stack: ...') }], host, io);
    expect(sameTarget.message).toMatch(/^  - \/app\/ok\.node: undefined symbol: napi_foo$/m);
    expect(sameTarget.message).not.toContain('Require stack');
  });
});

describe('a wrong-platform binary on this machine', () => {
  // A shared object for a CPU this process is not: the real dynamic loader refuses it.
  const foreign = process.arch === 'arm64' ? 'x64' : 'arm64';
  const foreignElf = elf(EM[foreign], ['libc.so.6']);

  it.runIf(process.platform === 'linux')('the real loader refuses it, and the error says why', () => {
    const file = join(work, 'wrong.node');
    writeFileSync(file, foreignElf);
    const req = createRequire(join(work, 'package.json'));
    let thrown: unknown = null;
    try {
      req(file);
    } catch (e) {
      thrown = e;
    }
    expect(thrown).toBeInstanceOf(Error);
    const error = loadFailureError(platformName(), [{ candidate: file, error: thrown }], currentHost(), fileSystemIo((id) => req.resolve(id)));
    expect(error.message).toContain(`${file}: the file is built for ${foreign}, but this process is ${process.arch}`);
  });

  const dist = join(root, 'dist', 'index.cjs');
  it.runIf(process.platform === 'linux')('IRON_ANALYTICS_IMPL=native makes the built package throw it', () => {
    expect(existsSync(dist), 'dist/ is built by `npm run build`, which npm test runs first').toBe(true);
    const app = join(work, 'app');
    mkdirSync(join(app, 'dist'), { recursive: true });
    writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'iron-runtime-analytics', version: '0.0.0' }));
    copyFileSync(dist, join(app, 'dist', 'index.cjs'));
    writeFileSync(join(app, `iron-runtime-analytics.${platformName()}.node`), foreignElf);
    let stderr = '';
    try {
      execFileSync(process.execPath, ['-e', "require('./dist/index.cjs')"], {
        cwd: app,
        env: { ...process.env, IRON_ANALYTICS_IMPL: 'native' },
        stdio: ['ignore', 'pipe', 'pipe'],
        encoding: 'utf8',
      });
    } catch (e) {
      stderr = (e as { stderr: string }).stderr;
    }
    expect(stderr).toContain(`iron-runtime-analytics: no native addon loads on ${platformName()}`);
    expect(stderr).toContain(`iron-runtime-analytics.${platformName()}.node: the file is built for ${foreign}, but this process is ${process.arch}`);
    expect(stderr).toContain(`iron-runtime-analytics-${platformName()}: not installed`);
    // Without the variable the same failure falls back to JS instead of throwing.
    const env = { ...process.env };
    delete env.IRON_ANALYTICS_IMPL;
    const impl = execFileSync(process.execPath, ['-e', "console.log(require('./dist/index.cjs').implementation)"], { cwd: app, env, encoding: 'utf8' });
    expect(impl.trim()).toBe('js');
  });
});
