"""Fixtures shared by the AWS emulator's unit tests: one in-process emulator per test module (no API servers)
and a boto3 session with its admin key."""

import os
import sys

import boto3
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
for path in (os.path.join(ROOT, "sandbox"), ROOT):
    if path not in sys.path:
        sys.path.insert(0, path)

from meshsandbox.aws_emulator import AWSEmulator  # noqa: E402

REGION = "eu-central-1"
READY_DELAY = 1.5


@pytest.fixture(scope="module")
def emu(tmp_path_factory):
    """The AWS emulator, started for the module and stopped after it (short lifecycle delays).

    A cluster or node group stays CREATING for READY_DELAY seconds: long enough that a test still sees CREATING in
    the create call's own answer on a machine busy with the integration lanes beside the units (0.3 s was not: the
    CI run s10final saw ACTIVE there), short enough that the waits for ACTIVE stay cheap."""
    emulator = AWSEmulator(port=0, home=str(tmp_path_factory.mktemp("home")), ready_delay=READY_DELAY,
                           update_delay=0.2, delete_delay=0.2, start_clusters=False).start()
    yield emulator
    emulator.stop()


@pytest.fixture(scope="module")
def admin_session(emu):
    """A boto3 session with the emulator's admin key."""
    return boto3.session.Session(aws_access_key_id=emu.admin_key, aws_secret_access_key=emu.admin_secret,
                                 region_name=REGION)
