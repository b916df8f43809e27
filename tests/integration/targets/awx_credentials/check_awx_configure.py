"""playbooks/awx/configure.yml: every survey question is an option of a role's argument spec.

Same variable name, a survey type that fits the option's type (str -> text/textarea/password,
int -> integer, float -> float, bool -> multiplechoice "false"/"true", choices -> multiplechoice
with exactly those choices) and the same default when the spec has one. Also: the job templates'
playbooks are the project's playbooks, and the workflow chains site -> verify (-> teardown).

    python check_awx_configure.py REPO
"""

import glob
import os
import sys

import yaml


class Loader(yaml.SafeLoader):
    pass


# Ansible's !unsafe tag (a string Ansible does not template)
Loader.add_constructor("!unsafe", lambda loader, node: loader.construct_scalar(node))


def load(path):
    with open(path) as handle:
        return yaml.load(handle, Loader=Loader)  # noqa: S506 - SafeLoader subclass


def role_options(repo):
    options = {}
    for path in glob.glob(os.path.join(repo, "roles", "*", "meta", "argument_specs.yml")):
        role = path.split(os.sep)[-3]
        for name, spec in load(path)["argument_specs"]["main"]["options"].items():
            options[name] = (role, spec)
    return options


def check_question(question, options):
    var = question["variable"]
    if var not in options:
        return ["survey variable %s is not an option of any role's argument spec" % var]
    role, spec = options[var]
    kind = spec.get("type", "str")
    problems = []
    qtype = question["type"]
    if spec.get("choices"):
        if qtype != "multiplechoice" or [str(c) for c in question.get("choices", [])] != [str(c) for c in spec["choices"]]:
            problems.append("%s (%s): choices %s, survey %s %s" % (var, role, spec["choices"], qtype, question.get("choices")))
    elif kind == "bool":
        if qtype != "multiplechoice" or sorted(question.get("choices", [])) != ["false", "true"]:
            problems.append("%s (%s): bool needs multiplechoice false/true, survey %s" % (var, role, qtype))
    else:
        fits = {"str": ("text", "textarea", "password"), "int": ("integer",), "float": ("float", "integer"),
                "path": ("text",)}.get(kind, ())
        if qtype not in fits:
            problems.append("%s (%s): type %s does not fit survey type %s" % (var, role, kind, qtype))
    if "default" in spec and spec["default"] not in ("", None) and "{{" not in str(spec["default"]):
        if str(question.get("default")).lower() != str(spec["default"]).lower():
            problems.append("%s (%s): default %r, survey default %r" % (var, role, spec["default"], question.get("default")))
    return problems


def main(repo):
    options = role_options(repo)
    config = load(os.path.join(repo, "playbooks", "awx", "vars", "main.yml"))
    problems = []
    questions = config["awx_site_survey"] + config["awx_teardown_survey"]
    for question in questions:
        problems += check_question(question, options)
    templates = config["awx_job_templates"]
    names = [t["name"] for t in templates]
    if [t["playbook"] for t in templates] != ["playbooks/site.yml", "playbooks/verify.yml", "playbooks/teardown.yml"]:
        problems.append("job templates are not site, verify, teardown: %s" % names)
    for template in templates:
        if not os.path.isfile(os.path.join(repo, template["playbook"])):
            print("note: %s is not in the repository yet (job template %s)" % (template["playbook"], template["name"]))
    play = load(os.path.join(repo, "playbooks", "awx", "configure.yml"))[0]
    workflow = [t for t in play["tasks"] if "awx.awx.workflow_job_template" in t][0]["awx.awx.workflow_job_template"]
    nodes = {n["identifier"]: n for n in workflow["workflow_nodes"]}
    if sorted(nodes) != ["site", "teardown", "verify"] or \
            nodes["site"]["related"]["success_nodes"] != [{"identifier": "verify"}]:
        problems.append("workflow does not chain site -> verify: %s" % sorted(nodes))
    if problems:
        sys.exit("FAIL:\n  " + "\n  ".join(problems))
    print("AWX configure: %d survey questions match the roles' argument specs (%s); templates %s"
          % (len(questions), ", ".join(q["variable"] for q in questions), ", ".join(names)))


if __name__ == "__main__":
    main(sys.argv[1])
