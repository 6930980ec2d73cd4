import { execFile } from 'node:child_process';

export interface ScanResult {
  scanner: 'trivy' | null;
  available: boolean;
  /** Why no scan ran. */
  message?: string;
  reports: { image: string; ok: boolean; output: string }[];
}

/** `trivy image` over each runtime image when Trivy is installed; a clear message when it is not. */
export async function scanImages(images: string[], trivy = 'trivy'): Promise<ScanResult> {
  const version = await new Promise<string | null>((resolve) =>
    execFile(trivy, ['--version'], { timeout: 10_000 }, (error, stdout) =>
      resolve(error ? null : stdout.trim()),
    ),
  );
  if (!version) {
    return {
      scanner: null,
      available: false,
      message:
        "no image scanner installed: 'trivy' was not found on PATH (it is not in Debian's packages; install it from aquasecurity's releases to enable 'boxrun images scan')",
      reports: [],
    };
  }
  const reports: ScanResult['reports'] = [];
  for (const image of images) {
    const out = await new Promise<{ ok: boolean; output: string }>((resolve) =>
      execFile(
        trivy,
        ['image', '--quiet', '--severity', 'HIGH,CRITICAL', '--exit-code', '1', image],
        { timeout: 600_000, maxBuffer: 64 * 1024 * 1024 },
        (error, stdout, stderr) => resolve({ ok: !error, output: `${stdout}${stderr}`.trim() }),
      ),
    );
    reports.push({ image, ...out });
  }
  return { scanner: 'trivy', available: true, reports };
}
