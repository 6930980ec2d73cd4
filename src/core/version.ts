/** boxrun's version, as package.json gives it (src/core/version.test.ts keeps the two equal). */
export const BOXRUN_VERSION = '0.1.0';
