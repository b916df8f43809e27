# multicloud.mesh — the two commands of the README are `make demo` and `make test`.
.PHONY: demo teardown test bench bootstrap sanity lint units integration molecule sandbox-up sandbox-down sandbox-status clean

demo:            ## site.yml then verify.yml on the local sandbox (installs what it needs)
	bash scripts/demo.sh

test:            ## sanity, unit and integration tests (what .ci/run runs)
	bash scripts/test.sh

# benchmarks/README.md: BENCH_ARGS="--clusters 2,4 --delay 10 --modes parallel" or "--quick"
bench:           ## site.yml timings for 2/4/8 clusters, parallel vs sequential (benchmarks/results/)
	bash scripts/bootstrap.sh && .venv/bin/python benchmarks/run.py $(BENCH_ARGS)

bootstrap:       ## venv, collection dependencies, sandbox binaries
	bash scripts/bootstrap.sh

sanity lint units integration:
	bash scripts/test.sh $@

# Every role's molecule scenario against the sandbox (tests/integration/targets/molecule);
# one: `make molecule SCENARIOS=istio`, or `.venv/bin/molecule test -s istio` (its own sandbox home).
molecule:        ## molecule test for every role (molecule/<role>) against the sandbox
	bash scripts/bootstrap.sh && MESH_TEST_TIER=full MESH_REPO="$(CURDIR)" bash tests/integration/targets/molecule/runme.sh $(SCENARIOS)

sandbox-up: bootstrap
	PYTHONPATH=sandbox .venv/bin/python -m meshsandbox up mesh-1:eks mesh-2:gke

sandbox-down:
	PYTHONPATH=sandbox .venv/bin/python -m meshsandbox down --all

sandbox-status:
	PYTHONPATH=sandbox .venv/bin/python -m meshsandbox status

# teardown.yml (clusters in parallel, orphan check) against the running cloud emulators, then
# `clouds down`; a failed teardown keeps the emulators up to look and re-run.
teardown:        ## teardown.yml against the sandbox's clouds, then stop the cloud emulators
	@home="$${MESH_SANDBOX_HOME:-$(CURDIR)/.cache/sandbox}"; \
	[ -f "$$home/clouds/env.sh" ] || { echo "no $$home/clouds/env.sh: the cloud emulators are not up (nothing to tear down)"; exit 0; }; \
	. "$$home/clouds/env.sh" && ANSIBLE_COLLECTIONS_PATH="$(CURDIR)/.cache/collections" \
	  .venv/bin/ansible-playbook playbooks/teardown.yml && \
	PYTHONPATH=sandbox .venv/bin/python -m meshsandbox clouds down

clean: sandbox-down
	rm -rf .cache/sandbox .cache/sandbox-it-* tests/output

.PHONY: docs
docs:            ## module and role docs (antsibull-docs + Sphinx) into docs/build/html
	bash scripts/bootstrap.sh >/dev/null && bash docs/sphinx/build.sh
