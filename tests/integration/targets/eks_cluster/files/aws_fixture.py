#!/usr/bin/env python
"""Fixture for the eks_cluster integration target: network and IAM roles in the AWS emulator,
and checks of what the emulator holds. Credentials, region and endpoint come from the AWS_*
environment variables that runme.sh exports.

  aws_fixture.py setup PREFIX        -> JSON {vpc_id, subnet_ids, cluster_role_arn, node_role_arn}
  aws_fixture.py setup-isolated PREFIX -> the same, but the subnets have no path out (node groups fail to join)
  aws_fixture.py open PREFIX         -> gives those subnets a path: internet gateway, route, public IPs
  aws_fixture.py inventory CLUSTER   -> JSON {clusters, nodegroups, elbs, vpcs, subnets, igws, nat_gateways, eips,
                                        route_tables, roles, users} (all but clusters, elbs, vpcs, roles and users: tagged
                                        mesh-cluster=CLUSTER)
  aws_fixture.py users PREFIX KEYFILE -> two IAM users PREFIX-reader and PREFIX-outsider with access keys: JSON
                                        {reader_arn, outsider_arn}; the keys go to KEYFILE (0600), never to stdout
  aws_fixture.py teardown PREFIX     -> deletes what setup and users made
"""
import json
import os
import sys

import boto3

TRUST = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                    "Principal": {"Service": ["eks.amazonaws.com", "ec2.amazonaws.com"]}}]})


def clients():
    kw = dict(endpoint_url=os.environ.get("AWS_ENDPOINT_URL"))
    return boto3.client("ec2", **kw), boto3.client("iam", **kw), boto3.client("eks", **kw), boto3.client("elb", **kw)


def setup(prefix, isolated=False):
    """A VPC with two subnets (a route to an internet gateway and public IPs on launch, unless ``isolated``:
    then no path out, and node groups on them end CREATE_FAILED) and the two IAM roles."""
    ec2, iam, _eks, _elb = clients()
    region = ec2.meta.region_name
    tags = [{"ResourceType": "vpc", "Tags": [{"Key": "Name", "Value": prefix}]}]
    vpcs = ec2.describe_vpcs(Filters=[{"Name": "tag:Name", "Values": [prefix]}])["Vpcs"]
    vpc = vpcs[0]["VpcId"] if vpcs else ec2.create_vpc(CidrBlock="10.42.0.0/16", TagSpecifications=tags)["Vpc"]["VpcId"]
    subnets = ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc]}])["Subnets"]
    ids = sorted(s["SubnetId"] for s in subnets)
    if not ids:
        ids = [ec2.create_subnet(VpcId=vpc, CidrBlock="10.42.%d.0/24" % i,
                                 AvailabilityZone=region + zone)["Subnet"]["SubnetId"]
               for i, zone in enumerate("ab")]
    if not isolated:
        open_path(prefix)
    arns = {}
    for kind in ("cluster", "node"):
        name = "%s-%s" % (prefix, kind)
        try:
            arns[kind] = iam.get_role(RoleName=name)["Role"]["Arn"]
        except iam.exceptions.NoSuchEntityException:
            arns[kind] = iam.create_role(RoleName=name, AssumeRolePolicyDocument=TRUST)["Role"]["Arn"]
    return {"vpc_id": vpc, "subnet_ids": sorted(ids), "cluster_role_arn": arns["cluster"],
            "node_role_arn": arns["node"]}


def open_path(prefix):
    """Give the subnets of the VPC named ``prefix`` a path out: an attached internet gateway, a route table with
    0.0.0.0/0 to it, and public IPs on launch (a public subnet, as EKS needs for nodes there)."""
    ec2 = clients()[0]
    vpc = ec2.describe_vpcs(Filters=[{"Name": "tag:Name", "Values": [prefix]}])["Vpcs"][0]["VpcId"]
    igws = ec2.describe_internet_gateways(Filters=[{"Name": "attachment.vpc-id", "Values": [vpc]}])["InternetGateways"]
    if igws:
        igw = igws[0]["InternetGatewayId"]
    else:
        igw = ec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
        ec2.attach_internet_gateway(InternetGatewayId=igw, VpcId=vpc)
    table = ec2.create_route_table(VpcId=vpc)["RouteTable"]["RouteTableId"]
    ec2.create_route(RouteTableId=table, DestinationCidrBlock="0.0.0.0/0", GatewayId=igw)
    subnets = sorted(s["SubnetId"] for s in ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc]}])["Subnets"])
    for subnet in subnets:
        ec2.associate_route_table(RouteTableId=table, SubnetId=subnet)
        ec2.modify_subnet_attribute(SubnetId=subnet, MapPublicIpOnLaunch={"Value": True})
    return {"vpc_id": vpc, "internet_gateway_id": igw, "route_table_id": table, "subnet_ids": subnets}


def _table(table):
    return {"subnets": sorted(a["SubnetId"] for a in table.get("Associations", []) if a.get("SubnetId")),
            "default_route": [r.get("NatGatewayId") or r.get("GatewayId") for r in table.get("Routes", [])
                              if r.get("DestinationCidrBlock") == "0.0.0.0/0"]}


def inventory(cluster):
    ec2, iam, eks, elb = clients()
    clusters = eks.list_clusters()["clusters"]
    nodegroups = eks.list_nodegroups(clusterName=cluster)["nodegroups"] if cluster in clusters else []
    tagged = [{"Name": "tag:mesh-cluster", "Values": [cluster]}]
    return {"clusters": clusters, "nodegroups": nodegroups,
            "elbs": [d["LoadBalancerName"] for d in elb.describe_load_balancers()["LoadBalancerDescriptions"]],
            "vpcs": [v["VpcId"] for v in ec2.describe_vpcs()["Vpcs"] if not v.get("IsDefault")],
            "subnets": [s["SubnetId"] for s in ec2.describe_subnets(Filters=tagged)["Subnets"]],
            "igws": [g["InternetGatewayId"] for g in ec2.describe_internet_gateways(Filters=tagged)["InternetGateways"]],
            "nat_gateways": {n["NatGatewayId"]: {"state": n["State"], "subnet_id": n["SubnetId"]}
                             for n in ec2.describe_nat_gateways(Filters=tagged)["NatGateways"]},
            "eips": [a["AllocationId"] for a in ec2.describe_addresses(Filters=tagged)["Addresses"]],
            "route_tables": {t["RouteTableId"]: _table(t) for t in ec2.describe_route_tables(Filters=tagged)["RouteTables"]},
            "roles": [r["RoleName"] for r in iam.list_roles()["Roles"]],
            "users": [u["UserName"] for u in iam.list_users()["Users"]]}


def users(prefix, keyfile):
    _ec2, iam, _eks, _elb = clients()
    out, keys = {}, {}
    for kind in ("reader", "outsider"):
        name = "%s-%s" % (prefix, kind)
        out["%s_arn" % kind] = iam.create_user(UserName=name)["User"]["Arn"]
        key = iam.create_access_key(UserName=name)["AccessKey"]
        keys[kind] = {"access_key": key["AccessKeyId"], "secret_key": key["SecretAccessKey"]}
    fd = os.open(keyfile, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(keys, handle)
    return out


def teardown(prefix):
    ec2, iam, _eks, _elb = clients()
    for kind in ("reader", "outsider"):
        name = "%s-%s" % (prefix, kind)
        try:
            for key in iam.list_access_keys(UserName=name)["AccessKeyMetadata"]:
                iam.delete_access_key(UserName=name, AccessKeyId=key["AccessKeyId"])
            iam.delete_user(UserName=name)
        except iam.exceptions.NoSuchEntityException:
            pass
    for kind in ("cluster", "node"):
        try:
            iam.delete_role(RoleName="%s-%s" % (prefix, kind))
        except iam.exceptions.NoSuchEntityException:
            pass
    for vpc in ec2.describe_vpcs(Filters=[{"Name": "tag:Name", "Values": [prefix]}])["Vpcs"]:
        in_vpc = [{"Name": "vpc-id", "Values": [vpc["VpcId"]]}]
        for table in ec2.describe_route_tables(Filters=in_vpc)["RouteTables"]:
            if any(a.get("Main") for a in table.get("Associations", [])):
                continue
            for assoc in table.get("Associations", []):
                ec2.disassociate_route_table(AssociationId=assoc["RouteTableAssociationId"])
            ec2.delete_route_table(RouteTableId=table["RouteTableId"])
        for igw in ec2.describe_internet_gateways(
                Filters=[{"Name": "attachment.vpc-id", "Values": [vpc["VpcId"]]}])["InternetGateways"]:
            ec2.detach_internet_gateway(InternetGatewayId=igw["InternetGatewayId"], VpcId=vpc["VpcId"])
            ec2.delete_internet_gateway(InternetGatewayId=igw["InternetGatewayId"])
        for sub in ec2.describe_subnets(Filters=in_vpc)["Subnets"]:
            ec2.delete_subnet(SubnetId=sub["SubnetId"])
        ec2.delete_vpc(VpcId=vpc["VpcId"])
    return {"deleted": prefix}


if __name__ == "__main__":
    action, args = sys.argv[1], sys.argv[2:]
    print(json.dumps({"setup": setup, "setup-isolated": lambda prefix: setup(prefix, isolated=True),
                      "open": open_path, "inventory": inventory, "users": users,
                      "teardown": teardown}[action](*args)))
