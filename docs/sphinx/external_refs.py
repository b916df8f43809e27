"""Write rst/external.rst: one section per label of the Ansible docsite that the generated pages
reference, each linking to docs.ansible.com (the build has no intersphinx: no network).

    python external_refs.py RST_DIR
"""

import os
import re
import sys

DOCSITE = "https://docs.ansible.com/ansible/latest"
KNOWN = {
    "common_return_values": ("Common return values", DOCSITE + "/reference_appendices/common_return_values.html"),
    "ansible_configuration_settings": ("Ansible configuration settings", DOCSITE + "/reference_appendices/config.html"),
    "action_plugins": ("Action plugins", DOCSITE + "/plugins/action.html"),
}
PLUGIN = re.compile(r"^ansible_collections\.([a-z0-9_]+)\.([a-z0-9_]+)\.([a-z0-9_]+)_(module|role|[a-z]+)$")
REF = re.compile(r":ref:`(?:[^`<]*<)?([^`<>]+)>?`")


def main(rst_dir):
    local, wanted = set(), set()
    for folder, _dirs, files in os.walk(rst_dir):
        for name in files:
            if not name.endswith(".rst"):
                continue
            with open(os.path.join(folder, name)) as handle:
                text = handle.read()
            local.update(re.findall(r"^\.\. _([^:]+):$", text, re.M))
            wanted.update(REF.findall(text))
    sections = []
    for label in sorted(wanted - local):
        match = PLUGIN.match(label)
        if label in KNOWN:
            title, url = KNOWN[label]
        elif match and match.group(1) != "multicloud":
            namespace, collection, plugin, kind = match.groups()
            title = "%s.%s.%s (%s)" % (namespace, collection, plugin, kind)
            url = "%s/collections/%s/%s/%s_%s.html" % (DOCSITE, namespace, collection, plugin, kind)
        else:
            continue  # a label of this collection that is missing: let Sphinx report it
        sections.append(".. _%s:\n\n%s\n%s\n\nIn the Ansible documentation: `%s <%s>`__.\n" % (
            label, title, "-" * len(title), title, url))
    with open(os.path.join(rst_dir, "external.rst"), "w") as handle:
        handle.write(":orphan:\n\nReferences to the Ansible documentation\n=======================================\n\n"
                     + "\n".join(sections))
    print("[docs] %d references to the Ansible docsite" % len(sections))


if __name__ == "__main__":
    main(sys.argv[1])
