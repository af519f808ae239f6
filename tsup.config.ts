import { defineConfig } from 'tsup';

// One entry, two formats: `import` gets dist/index.mjs, `require` gets
// dist/index.cjs; the bundled declarations (with their doc comments) become
// the root index.d.ts.
export default defineConfig({
  entry: { index: 'src/index.ts' },
  format: ['esm', 'cjs'],
  outExtension: ({ format }) => ({ js: format === 'esm' ? '.mjs' : '.cjs' }),
  dts: true,
  shims: true,
  clean: true,
  target: 'node20',
  platform: 'node',
  sourcemap: false,
  splitting: false,
});
