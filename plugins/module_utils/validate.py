# -*- coding: utf-8 -*-
# Copyright: multicloud.mesh contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Checks of option values that several modules share, run before anything is read or changed.

Each function takes the value and the option's name as the user wrote it (``label``, e.g.
``node_groups[0].cidr_block``) and returns None when the value is fine, else a message that
names the option, shows the value and says what is expected. Modules collect the messages and
fail with all of them at once. AnsibleModule's argument_spec already checks types, choices,
required options and unknown keys; these cover what it cannot: ranges and formats.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ipaddress
import re

# \Z, not $: "$" also matches before a final newline, so "global\n" would pass a "$" pattern.
DNS_LABEL_RE = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?\Z")          # RFC 1123 label (namespaces)
DNS_1035_LABEL_RE = re.compile(r"^[a-z]([-a-z0-9]{0,61}[a-z0-9])?\Z")        # Service names
LABEL_VALUE_RE = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?\Z")  # Kubernetes label value
HTTP_URL_RE = re.compile(r"^https?://[^/\s?#]+(/\S*)?\Z")
DNS_NAME_MAX = 253


def at_least(value, label, minimum=1, unit="seconds"):
    """An integer option with a lower bound (timeouts, counts)."""
    if value is not None and value < minimum:
        return "%s must be %d or more (%s), got %s" % (label, minimum, unit, value)
    return None


def port(value, label):
    """A TCP/UDP port number."""
    if value is not None and not 1 <= value <= 65535:
        return "%s %s must be a port number (1-65535)" % (label, value)
    return None


def http_url(value, label):
    """An http(s) URL with a host (API endpoints)."""
    if value and not HTTP_URL_RE.match(value):
        return "%s %r must be an http:// or https:// URL with a host, like https://api.example.com" % (label, value)
    return None


def cidr(value, label):
    """An IPv4 or IPv6 network in CIDR notation without host bits (10.0.0.0/8, not 10.0.0.1/8)."""
    try:
        if "/" not in u"%s" % value:
            raise ValueError("no /prefix length")
        ipaddress.ip_network(u"%s" % value, strict=True)
    except ValueError as exc:
        return "%s %r is not a CIDR block (%s); write it like 10.0.0.0/8" % (label, value, exc)
    return None


def ip_address(value, label):
    """An IPv4 or IPv6 address."""
    try:
        ipaddress.ip_address(u"%s" % value)
    except ValueError:
        return "%s: %r is not an IP address (like 10.0.0.10)" % (label, value)
    return None


def dns_label(value, label, what="name"):
    """An RFC 1123 label: a Kubernetes namespace or object name."""
    if not DNS_LABEL_RE.match(value or ""):
        return ("%s %r is not a %s: use 1-63 lowercase letters, digits and '-', starting and ending with a "
                "letter or digit" % (label, value, what))
    return None


def dns_1035_label(value, label, what="name"):
    """An RFC 1035 label: a Kubernetes Service name (starts with a letter)."""
    if not DNS_1035_LABEL_RE.match(value or ""):
        return ("%s %r is not a %s: use 1-63 lowercase letters, digits and '-', starting with a letter and "
                "ending with a letter or digit" % (label, value, what))
    return None


LABEL_VALUE_CHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_."


def _first_bad(text, allowed, subject):
    """Why ``text`` is refused: its first character not in ``allowed``, else its first or last one."""
    for char in text:
        if char not in allowed:
            return "%s has the character %r" % (subject, char)
    return "%s must start and end with a letter or digit" % subject


def dns_name(value, label, what="DNS name"):
    """An RFC 1123 DNS name: dot-separated labels of 1-63 characters [a-z0-9-] (not starting or
    ending with '-'), 253 characters at most (trust domains, cluster domains, host suffixes).

    Such a name is safe to write into a CoreDNS Corefile or a host name: no space, newline,
    brace or other character that would start new configuration.
    """
    text = value if isinstance(value, str) else ("" if value is None else str(value))
    labels = text.split(".")
    bad = [part for part in labels if not DNS_LABEL_RE.match(part)]
    if len(text) > DNS_NAME_MAX:
        reason = "it has %d characters, at most %d are allowed" % (len(text), DNS_NAME_MAX)
    elif not text:
        reason = "it is empty"
    elif bad:
        part = bad[0]
        if not part:
            reason = "it has an empty label (two dots in a row, or a dot at an end)"
        elif len(part) > 63:
            reason = "label %r has %d characters, at most 63 are allowed" % (part[:20] + "...", len(part))
        else:
            reason = _first_bad(part, "abcdefghijklmnopqrstuvwxyz0123456789-", "label %r" % part)
    else:
        return None
    return ("%s %r is not a %s (%s): use dot-separated labels of 1-63 lowercase letters, digits and '-', "
            "each starting and ending with a letter or digit, 253 characters at most, like cluster.local"
            % (label, value, what, reason))


def label_value(value, label, what="Kubernetes label value"):
    """A Kubernetes label value: at most 63 characters [A-Za-z0-9._-], starting and ending with a
    letter or digit (empty is allowed by Kubernetes; use not_empty as well where it is not)."""
    text = value if isinstance(value, str) else ("" if value is None else str(value))
    if len(text) > 63:
        reason = "it has %d characters, at most 63 are allowed" % len(text)
    elif not LABEL_VALUE_RE.match(text):
        reason = _first_bad(text, LABEL_VALUE_CHARS, "it")
    else:
        return None
    return ("%s %r is not a %s (%s): use at most 63 letters, digits, '-', '_' and '.', starting and ending "
            "with a letter or digit, like mesh1" % (label, value, what, reason))


def not_empty(value, label):
    """A string option that must have a value."""
    if value is None or not str(value).strip():
        return "%s must not be empty" % label
    return None


def errors(*messages):
    """The messages that are not None (``errors(port(...), cidr(...))``)."""
    return [m for m in messages if m]
