"""Turn requirements.yml into a requirements file whose collections come from local folders.

Galaxy is not reachable from this project's machines (docs/deviations.md): each collection
that requirements.yml names is taken, as a `type: dir` source, from the copy that
scripts/install-collections.py extracted from the pinned `ansible` wheel. The version
constraint of requirements.yml is kept, so ansible-galaxy still checks it.

    python local_requirements.py REQUIREMENTS_YML COLLECTIONS_ROOT OUT_YML
"""

import os
import sys

import yaml


def main(requirements, root, out):
    with open(requirements) as handle:
        wanted = yaml.safe_load(handle)["collections"]
    local = []
    for entry in wanted:
        name = entry["name"] if isinstance(entry, dict) else entry
        namespace, collection = name.split(".")
        source = os.path.join(root, "ansible_collections", namespace, collection)
        if not os.path.isfile(os.path.join(source, "MANIFEST.json")):
            sys.exit("%s: no local copy of %s at %s (run scripts/install-collections.py)" % (requirements, name, source))
        item = {"name": source, "type": "dir"}
        version = entry.get("version") if isinstance(entry, dict) else None
        if version:
            item["version"] = version
        local.append(item)
        print("%s %s <- %s" % (name, version or "*", source))
    with open(out, "w") as handle:
        yaml.safe_dump({"collections": local}, handle, default_flow_style=False)


if __name__ == "__main__":
    main(*sys.argv[1:4])
