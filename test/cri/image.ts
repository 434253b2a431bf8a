// The one image the CRI scenarios use, as sandbox ("pause") image and as container image, built
// without a registry: a busybox-static rootfs plus socat (busybox's nc has no UDP) with the shared
// libraries it links, written as an OCI image layout and archived for `ctr images import`.
import { createHash } from "node:crypto";
import { copyFileSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { sh } from "../helpers/netns.ts";

/** A name containerd keeps as is (no `docker.io/library/` expansion), never pulled. */
export const IMAGE_NAME = "localhost/tscni/busybox:test";

const BUSYBOX = "/bin/busybox";
const SOCAT = "/usr/bin/socat";
const APPLETS = ["sh", "sleep", "echo"];

/** The shared objects `ldd` resolves for an executable (absolute paths, the loader included). */
function sharedLibraries(executable: string): string[] {
  return sh("ldd", [executable])
    .split("\n")
    .map((line) => /(\/\S+)\s+\(0x/.exec(line)?.[1])
    .filter((p): p is string => p !== undefined);
}

function copyInto(root: string, path: string): void {
  const target = join(root, path);
  mkdirSync(dirname(target), { recursive: true });
  copyFileSync(path, target);
}

function writeBlob(layout: string, data: Buffer): { digest: string; size: number } {
  const hex = createHash("sha256").update(data).digest("hex");
  writeFileSync(join(layout, "blobs", "sha256", hex), data);
  return { digest: `sha256:${hex}`, size: data.length };
}

/** Builds the image archive under `dir` and returns its path. */
export function buildImageArchive(dir: string): string {
  const rootfs = join(dir, "rootfs");
  for (const d of ["bin", "usr/bin", "etc", "proc", "sys", "dev", "tmp", "root"]) mkdirSync(join(rootfs, d), { recursive: true });
  copyInto(rootfs, BUSYBOX);
  for (const applet of APPLETS) symlinkSync("busybox", join(rootfs, "bin", applet));
  copyInto(rootfs, SOCAT);
  for (const lib of sharedLibraries(SOCAT)) copyInto(rootfs, lib);
  writeFileSync(join(rootfs, "etc/passwd"), "root:x:0:0:root:/root:/bin/sh\n");
  writeFileSync(join(rootfs, "etc/group"), "root:x:0:\n");

  const layout = join(dir, "layout");
  mkdirSync(join(layout, "blobs", "sha256"), { recursive: true });
  const layerTar = join(dir, "layer.tar");
  sh("tar", ["--create", "--file", layerTar, "--sort=name", "--owner=0", "--group=0", "--numeric-owner", "--mtime=@0", "-C", rootfs, "."]);
  const layer = writeBlob(layout, readFileSync(layerTar));
  const config = writeBlob(
    layout,
    Buffer.from(
      JSON.stringify({
        architecture: "amd64",
        os: "linux",
        config: { Cmd: ["/bin/sleep", "infinity"], Env: ["PATH=/usr/bin:/bin"], WorkingDir: "/" },
        rootfs: { type: "layers", diff_ids: [layer.digest] },
      }),
    ),
  );
  const manifest = writeBlob(
    layout,
    Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: "application/vnd.oci.image.manifest.v1+json",
        config: { mediaType: "application/vnd.oci.image.config.v1+json", ...config },
        layers: [{ mediaType: "application/vnd.oci.image.layer.v1.tar", ...layer }],
      }),
    ),
  );
  writeFileSync(join(layout, "oci-layout"), JSON.stringify({ imageLayoutVersion: "1.0.0" }));
  writeFileSync(
    join(layout, "index.json"),
    JSON.stringify({
      schemaVersion: 2,
      manifests: [
        {
          mediaType: "application/vnd.oci.image.manifest.v1+json",
          ...manifest,
          platform: { architecture: "amd64", os: "linux" },
          annotations: { "io.containerd.image.name": IMAGE_NAME, "org.opencontainers.image.ref.name": "test" },
        },
      ],
    }),
  );
  const archive = join(dir, "image.tar");
  sh("tar", ["--create", "--file", archive, "-C", layout, "."]);
  return archive;
}
