"""Print, as JSON, the EC2 resources moto's server holds (run by the tools venv's python).

The endpoint and the fake credentials come from the environment (AWS_ENDPOINT_URL, ...).
"""

import json

import boto3


def tags(resource: dict) -> dict:
    return {t["Key"]: t["Value"] for t in resource.get("Tags") or []}


def main() -> None:
    ec2 = boto3.client("ec2")
    found = {
        "vpcs": [
            {"id": v["VpcId"], "cidr": v["CidrBlock"], "tags": tags(v)}
            for v in ec2.describe_vpcs()["Vpcs"]
            if not v.get("IsDefault")
        ],
        "subnets": [
            {"id": s["SubnetId"], "vpc": s["VpcId"], "cidr": s["CidrBlock"], "tags": tags(s)}
            for s in ec2.describe_subnets()["Subnets"]
            if not s.get("DefaultForAz")
        ],
        "security_groups": [
            {
                "id": g["GroupId"],
                "name": g["GroupName"],
                "vpc": g.get("VpcId"),
                "tags": tags(g),
                "ingress": [
                    [
                        p.get("IpProtocol"),
                        p.get("FromPort"),
                        p.get("ToPort"),
                        sorted(r["CidrIp"] for r in p.get("IpRanges") or []),
                    ]
                    for p in g.get("IpPermissions") or []
                ],
            }
            for g in ec2.describe_security_groups()["SecurityGroups"]
            if g["GroupName"] != "default"
        ],
        "key_pairs": [k["KeyName"] for k in ec2.describe_key_pairs()["KeyPairs"]],
        "instances": [
            {
                "id": i["InstanceId"],
                "state": i["State"]["Name"],
                "subnet": i.get("SubnetId"),
                "key": i.get("KeyName"),
                "groups": sorted(g["GroupId"] for g in i.get("SecurityGroups") or []),
                "tags": tags(i),
            }
            for r in ec2.describe_instances()["Reservations"]
            for i in r["Instances"]
        ],
        "addresses": [
            {
                "ip": a["PublicIp"],
                "instance": a.get("InstanceId"),
                "allocation": a.get("AllocationId"),
            }
            for a in ec2.describe_addresses()["Addresses"]
        ],
        "image": ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"],
    }
    print(json.dumps(found))


if __name__ == "__main__":
    main()
