# -*- coding: utf-8 -*-
# Copyright: multicloud.mesh contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    # The progress_file option of the modules that wait for a cloud (module_utils/progress.py).
    DOCUMENTATION = r"""
options:
  progress_file:
    description:
      - A file to which the module appends a status line every 30 seconds while it waits for the cloud, for example
        C(cluster mesh-1 - CREATING, 90 s so far) (with a colon after the name).
      - You do not need to set it. When the task runs on the controller (local connection, or delegated to
        C(localhost)), the module's action plugin sets it to a temporary file and shows each line in the play's
        output while the module runs, so that a wait of many minutes is not silent (in AWX too). Set it yourself
        to keep the lines in a file instead; they are not shown then.
    type: path
notes:
  - During a wait longer than 30 seconds, a line with the status of what is awaited is shown at least every
    60 seconds (see O(progress_file)). These lines are progress, not warnings or failures.
"""
