import { execa } from 'execa';

export interface ScanResult {
  scanner: 'trivy' | null;
  available: boolean;
  /** Why no scan ran. */
  message?: string;
  reports: { image: string; ok: boolean; output: string }[];
}

/** `trivy image` over each runtime image when Trivy is installed; a clear message when it is not. */
export async function scanImages(images: string[], trivy = 'trivy'): Promise<ScanResult> {
  const probe = await execa(trivy, ['--version'], { timeout: 10_000, reject: false });
  const version = probe.failed ? null : probe.stdout.trim();
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
    const scan = await execa(
      trivy,
      ['image', '--quiet', '--severity', 'HIGH,CRITICAL', '--exit-code', '1', image],
      { timeout: 600_000, maxBuffer: 64 * 1024 * 1024, reject: false },
    );
    reports.push({ image, ok: !scan.failed, output: `${scan.stdout}${scan.stderr}`.trim() });
  }
  return { scanner: 'trivy', available: true, reports };
}
