# -*- coding: utf-8 -*-
# Copyright: multicloud.mesh contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Action plugin of multicloud.mesh.gke_cluster: runs the module and shows its progress lines during long waits
(plugins/plugin_utils/progress.py)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.multicloud.mesh.plugins.plugin_utils.progress import ProgressAction


class ActionModule(ProgressAction):
    pass
