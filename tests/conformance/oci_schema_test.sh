#!/usr/bin/env bash
# cairn's OCI output against the image-spec JSON Schemas in ../shared/conformance: the
# store root, and `cairn save` in the hybrid and oci formats (index.json, manifests,
# configs, oci-layout). The spec's own examples are positive controls; broken documents
# are negative controls, so a validator that accepts everything cannot pass.
set -euo pipefail
cairn=${CAIRN_BINARY:-cairn}
schemas="${CAIRN_CONFORMANCE_DIR:-}/oci-image-spec"
[ -d "$schemas/schema" ] || { echo "SKIP: no OCI schemas at $schemas"; exit 77; }
python=/usr/bin/python3
[ -x "$python" ] || python=$(command -v python3)
"$python" -c 'import jsonschema' 2>/dev/null || { echo "SKIP: python3-jsonschema is not installed"; exit 77; }
busybox=${CAIRN_BUSYBOX_TAR:-}
if [ -z "$busybox" ] || [ ! -s "$busybox" ]; then
  echo "SKIP: CAIRN_BUSYBOX_TAR is not set (tools/make-test-images.sh busybox)"; exit 77
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/cairn-oci-schema.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
export HOME="$tmp/home" XDG_CONFIG_HOME="$tmp/config" XDG_DATA_HOME="$tmp/data"
store="$tmp/store"
"$cairn" --root "$store" import "$busybox" schema/test:1 -c 'ENV A=1' -c 'CMD ["sh"]' >/dev/null
"$cairn" --root "$store" save -o "$tmp/hybrid.tar" schema/test:1
"$cairn" --root "$store" save --format oci -o "$tmp/oci.tar" schema/test:1
mkdir "$tmp/hybrid" "$tmp/oci"
tar -C "$tmp/hybrid" -xf "$tmp/hybrid.tar"
tar -C "$tmp/oci" -xf "$tmp/oci.tar"

"$python" - "$schemas" "$store" "$tmp/hybrid" "$tmp/oci" <<'PY'
import json, os, re, sys, warnings
warnings.simplefilter("ignore")
import jsonschema

schema_dir, *layouts = sys.argv[1:]
schema_dir_path = os.path.join(schema_dir, "schema")
store = {}
aliases = {
    "defs-descriptor.json": ["https://opencontainers.org/schema/defs-descriptor.json",
                             "https://opencontainers.org/schema/image/defs-descriptor.json",
                             "https://opencontainers.org/schema/image/descriptor/mediaType"],
    "defs.json": ["https://opencontainers.org/schema/defs.json",
                  "https://opencontainers.org/schema/image/defs.json",
                  "https://opencontainers.org/schema/image/descriptor/defs.json"],
    "content-descriptor.json": ["https://opencontainers.org/schema/descriptor",
                                "https://opencontainers.org/schema/image/content-descriptor.json"],
}
schemas = {}
for name in os.listdir(schema_dir_path):
    if not name.endswith(".json"):
        continue
    with open(os.path.join(schema_dir_path, name)) as f:
        doc = json.load(f)
    schemas[name] = doc
    for key in [name, doc.get("id", name)] + aliases.get(name, []):
        store[key] = doc

def validate(doc, schema_name):
    schema = schemas[schema_name]
    # Nested "id"s move the base URI around (…/image/index/annotations); every reference
    # names one of the seven files, so resolve by file name and never touch the network.
    by_file = lambda url: schemas[url.split("#")[0].rsplit("/", 1)[-1]] \
        if url.split("#")[0].rsplit("/", 1)[-1] in schemas else store[url.split("#")[0]]
    resolver = jsonschema.RefResolver(base_uri=schema.get("id", ""), referrer=schema, store=store,
                                      handlers={"https": by_file, "http": by_file})
    jsonschema.Draft4Validator(schema, resolver=resolver).validate(doc)

by_media = {
    "application/vnd.oci.image.manifest.v1+json": "image-manifest-schema.json",
    "application/vnd.oci.image.index.v1+json": "image-index-schema.json",
    "application/vnd.oci.image.config.v1+json": "config-schema.json",
    "application/vnd.oci.descriptor.v1+json": "content-descriptor.json",
    "application/vnd.oci.layout.header.v1+json": "image-layout-schema.json",
}
passed = failed = 0
def check(ok, what):
    global passed, failed
    if ok:
        passed += 1; print(f"ok - {what}")
    else:
        failed += 1; print(f"not ok - {what}")

def valid(doc, schema_name):
    try:
        validate(doc, schema_name); return True
    except jsonschema.ValidationError as e:
        print(f"#   {schema_name}: {e.message}"); return False

# Positive controls: the spec's own examples.
examples = os.path.join(schema_dir, "examples")
with open(os.path.join(examples, "INDEX.tsv")) as f:
    rows = [line.rstrip("\n").split("\t") for line in f][1:]
for row in rows:
    if len(row) < 4: continue
    with open(os.path.join(examples, row[0])) as f:
        check(valid(json.load(f), by_media[row[3]]), f"spec example {row[0]} validates")
# Negative controls.
check(not valid({"schemaVersion": 1, "config": {}, "layers": []}, "image-manifest-schema.json"),
      "a schemaVersion 1 manifest is rejected")
check(not valid({"imageLayoutVersion": 1}, "image-layout-schema.json"), "a numeric imageLayoutVersion is rejected")

digest_re = re.compile(r"^sha256:[0-9a-f]{64}$")
def blob(layout, digest):
    with open(os.path.join(layout, "blobs", "sha256", digest[7:])) as f:
        return json.load(f)

for layout in layouts:
    name = os.path.basename(layout.rstrip("/"))
    with open(os.path.join(layout, "oci-layout")) as f:
        check(valid(json.load(f), "image-layout-schema.json"), f"{name}: oci-layout validates")
    with open(os.path.join(layout, "index.json")) as f:
        index = json.load(f)
    check(valid(index, "image-index-schema.json"), f"{name}: index.json validates")
    for d in index["manifests"]:
        check(bool(digest_re.match(d["digest"])), f"{name}: index digest {d['digest'][:19]} is well-formed")
        manifest = blob(layout, d["digest"])
        check(valid(manifest, "image-manifest-schema.json"), f"{name}: manifest validates")
        config = blob(layout, manifest["config"]["digest"])
        check(valid(config, "config-schema.json"), f"{name}: config validates")
        env = config.get("config", {}).get("Env", [])
        check(all(re.match(r"^[^=]+=.*$", e) for e in env), f"{name}: config Env entries are KEY=VALUE")
        check(len(config["rootfs"]["diff_ids"]) == len(manifest["layers"]), f"{name}: one diff_id per layer")
        for l in manifest["layers"] + [manifest["config"]]:
            path = os.path.join(layout, "blobs", "sha256", l["digest"][7:])
            check(os.path.getsize(path) == l["size"], f"{name}: blob {l['digest'][7:19]} has its descriptor's size")
print(f"{passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
PY
