"""The Kubernetes versions the sandbox's clouds offer: one table for both emulators.

EKS (``DescribeClusterVersions``, ``CreateCluster``, ``UpdateClusterVersion``) and GKE
(``serverConfig``, ``clusters.create``) answer from here, so a version test and the emulators
cannot disagree. The EKS rows are AWS's published lifecycle as of 2026-12-03 (EKS user guide,
"Kubernetes version lifecycle"; ../shared/notes/real-cloud-facts.md): 14 months of standard
support, then 12 months of extended support at an extra cost per cluster hour. A version past
its extended support is no longer offered. Update this table with the calendar: the statuses are
fixed here, not computed from today's date, so that a test does not change its result overnight.
"""

# EKS: newest first, as DescribeClusterVersions lists them. 1.31's extended support ended on
# 2026-11-26, so it is gone; 1.34's standard support ended on 2026-12-02.
EKS_VERSIONS = [
    {"clusterVersion": "1.35", "status": "STANDARD_SUPPORT", "releaseDate": "2026-01-27",
     "endOfStandardSupportDate": "2027-03-27", "endOfExtendedSupportDate": "2028-03-27"},
    {"clusterVersion": "1.34", "status": "EXTENDED_SUPPORT", "releaseDate": "2025-10-02",
     "endOfStandardSupportDate": "2026-12-02", "endOfExtendedSupportDate": "2027-12-02"},
    {"clusterVersion": "1.33", "status": "EXTENDED_SUPPORT", "releaseDate": "2025-05-29",
     "endOfStandardSupportDate": "2026-07-29", "endOfExtendedSupportDate": "2027-07-29"},
    {"clusterVersion": "1.32", "status": "EXTENDED_SUPPORT", "releaseDate": "2025-01-23",
     "endOfStandardSupportDate": "2026-03-23", "endOfExtendedSupportDate": "2027-03-23"},
]
EKS_DEFAULT_VERSION = "1.35"
EKS_OFFERED = [row["clusterVersion"] for row in EKS_VERSIONS]

# GKE: valid master (and node) versions, newest first (ServerConfig.validMasterVersions order),
# and each release channel's default. (Kept as the GKE target expects them; GKE's real list moves
# weekly and is read from serverConfig by the module, never assumed.)
GKE_VALID_MASTER_VERSIONS = [
    "1.34.1-gke.1829001",
    "1.34.0-gke.1662000",
    "1.33.5-gke.1080000",
    "1.33.4-gke.1245000",
    "1.32.9-gke.1108000",
]
GKE_CHANNEL_DEFAULTS = {
    "RAPID": "1.34.1-gke.1829001",
    "REGULAR": "1.33.5-gke.1080000",
    "STABLE": "1.32.9-gke.1108000",
    "EXTENDED": "1.32.9-gke.1108000",
}
GKE_DEFAULT_VERSION = GKE_CHANNEL_DEFAULTS["REGULAR"]
# The versions each release channel carries (ServerConfig.channels[].validVersions, newest first): a cluster
# created in a channel with an initialClusterVersion outside its channel's list is refused, as on GKE.
GKE_CHANNEL_VERSIONS = {
    "RAPID": ["1.34.1-gke.1829001", "1.34.0-gke.1662000", "1.33.5-gke.1080000"],
    "REGULAR": ["1.33.5-gke.1080000", "1.33.4-gke.1245000", "1.32.9-gke.1108000"],
    "STABLE": ["1.32.9-gke.1108000"],
    "EXTENDED": ["1.32.9-gke.1108000"],
}


def gke_channel_versions(channel):
    """The versions ``channel`` carries (None for no channel or UNSPECIFIED: any valid master version)."""
    if not channel or channel == "UNSPECIFIED":
        return None
    return list(GKE_CHANNEL_VERSIONS.get(channel, []))
