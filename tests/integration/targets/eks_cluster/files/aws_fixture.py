#!/usr/bin/env python
"""Fixture for the eks_cluster integration target: network and IAM roles in the AWS emulator,
and checks of what the emulator holds. Credentials, region and endpoint come from the AWS_*
environment variables that runme.sh exports.

  aws_fixture.py setup PREFIX        -> JSON {vpc_id, subnet_ids, cluster_role_arn, node_role_arn}
  aws_fixture.py inventory CLUSTER   -> JSON {clusters, nodegroups, elbs, vpcs, subnets, igws, roles}
                                        (subnets and internet gateways tagged mesh-cluster=CLUSTER)
  aws_fixture.py teardown PREFIX     -> deletes what setup made
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


def setup(prefix):
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
    arns = {}
    for kind in ("cluster", "node"):
        name = "%s-%s" % (prefix, kind)
        try:
            arns[kind] = iam.get_role(RoleName=name)["Role"]["Arn"]
        except iam.exceptions.NoSuchEntityException:
            arns[kind] = iam.create_role(RoleName=name, AssumeRolePolicyDocument=TRUST)["Role"]["Arn"]
    return {"vpc_id": vpc, "subnet_ids": sorted(ids), "cluster_role_arn": arns["cluster"],
            "node_role_arn": arns["node"]}


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
            "roles": [r["RoleName"] for r in iam.list_roles()["Roles"]]}


def teardown(prefix):
    ec2, iam, _eks, _elb = clients()
    for kind in ("cluster", "node"):
        try:
            iam.delete_role(RoleName="%s-%s" % (prefix, kind))
        except iam.exceptions.NoSuchEntityException:
            pass
    for vpc in ec2.describe_vpcs(Filters=[{"Name": "tag:Name", "Values": [prefix]}])["Vpcs"]:
        for sub in ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc["VpcId"]]}])["Subnets"]:
            ec2.delete_subnet(SubnetId=sub["SubnetId"])
        ec2.delete_vpc(VpcId=vpc["VpcId"])
    return {"deleted": prefix}


if __name__ == "__main__":
    action, arg = sys.argv[1], sys.argv[2]
    print(json.dumps({"setup": setup, "inventory": inventory, "teardown": teardown}[action](arg)))
