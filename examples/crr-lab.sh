#!/usr/bin/env bash
# The AWS reliability lab "bi-directional cross-region replication for S3", end to end, against a running
# `twinstore up` (or any deployment): deploy one stack per region, add a replication rule each way, put an object
# in each bucket, watch the statuses, query the trail's log group, tear everything down.
#
# Needs: AWS_ENDPOINT_URL (any region's endpoint), AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (the root's:
# `twinstore credentials`), and optionally PREFIX (the lab's NamingPrefix), EAST / WEST region names, and the
# commands to run as TWINSTORE and AWS.
set -euo pipefail
cd "$(dirname "$0")"
EAST=${EAST:-us-east-2}
WEST=${WEST:-us-west-2}
PREFIX=${PREFIX:-crr$(date +%s)}
TWINSTORE=${TWINSTORE:-twinstore}
AWS=${AWS:-aws}
export AWS_PAGER=""
east() { $AWS --region "$EAST" "$@"; }
west() { $AWS --region "$WEST" "$@"; }
ACCOUNT=$(east sts get-caller-identity --query Account --output text)

echo "== 1. deploy the lab's template in both regions (NamingPrefix=$PREFIX)"
$TWINSTORE stack deploy --region "$EAST" --stack-name S3-CRR-lab-east --template crr-lab.yaml --param NamingPrefix="$PREFIX"
$TWINSTORE stack deploy --region "$WEST" --stack-name S3-CRR-lab-west --template crr-lab.yaml --param NamingPrefix="$PREFIX"
EAST_BUCKET=$(east cloudformation describe-stacks --stack-name S3-CRR-lab-east \
  --query "Stacks[0].Outputs[?OutputKey=='S3BucketName'].OutputValue" --output text)
WEST_BUCKET=$(west cloudformation describe-stacks --stack-name S3-CRR-lab-west \
  --query "Stacks[0].Outputs[?OutputKey=='S3BucketName'].OutputValue" --output text)
echo "east bucket: $EAST_BUCKET   west bucket: $WEST_BUCKET"

rule() {  # rule NAME ROLE_REGION DEST_BUCKET
  cat <<JSON
{"Role": "arn:aws:iam::$ACCOUNT:role/$PREFIX-S3-Replication-Role-$2",
 "Rules": [{"ID": "$1", "Priority": 1, "Status": "Enabled", "Filter": {},
            "DeleteMarkerReplication": {"Status": "Disabled"},
            "Destination": {"Bucket": "arn:aws:s3:::$3"}}]}
JSON
}
echo "== 2. replication rules: east to west, west to east"
east s3api put-bucket-replication --bucket "$EAST_BUCKET" --replication-configuration "$(rule 'east to west' "$EAST" "$WEST_BUCKET")"
west s3api put-bucket-replication --bucket "$WEST_BUCKET" --replication-configuration "$(rule 'west to east' "$WEST" "$EAST_BUCKET")"

echo "== 3. an object in each bucket"
echo "object put in the east" | east s3 cp - "s3://$EAST_BUCKET/object-1.txt"
echo "object put in the west" | west s3 cp - "s3://$WEST_BUCKET/object-2.txt"

status() { "$1" s3api head-object --bucket "$2" --key "$3" --query ReplicationStatus --output text 2>/dev/null || echo "-"; }
for _ in $(seq 1 100); do
  s1=$(status east "$EAST_BUCKET" object-1.txt); r1=$(status west "$WEST_BUCKET" object-1.txt)
  s2=$(status west "$WEST_BUCKET" object-2.txt); r2=$(status east "$EAST_BUCKET" object-2.txt)
  [ "$s1 $r1 $s2 $r2" = "COMPLETED REPLICA COMPLETED REPLICA" ] && break
  sleep 0.1
done
echo "object-1: east $s1, west $r1    object-2: west $s2, east $r2"
[ "$s1 $r1 $s2 $r2" = "COMPLETED REPLICA COMPLETED REPLICA" ]
echo "encryption of the copies: $(west s3api head-object --bucket "$WEST_BUCKET" --key object-1.txt \
  --query ServerSideEncryption --output text) / $(east s3api head-object --bucket "$EAST_BUCKET" --key object-2.txt \
  --query ServerSideEncryption --output text)"

echo "== 4. who wrote what: the lab's Logs Insights query over the east trail's log group"
sleep 3  # the trail delivers within ~2 s
$TWINSTORE logs query --region "$EAST" --log-group "CloudTrail/logs/$PREFIX" --since 1h \
'fields @timestamp, requestParameters.key AS key,
| requestParameters.bucketName AS bucket,
| userIdentity.invokedBy AS invokedBy,
| userIdentity.arn AS arn,
| userIdentity.sessionContext.sessionIssuer.userName AS UserName
| filter eventName ='"'"'PutObject'"'"'
| sort @timestamp desc
| limit 20'

echo "== 5. tear down: empty the four buckets, delete both stacks"
empty() {  # empty REGION BUCKET: every version and delete marker
  $AWS --region "$1" s3api list-object-versions --bucket "$2" --output json \
    --query '{Objects: [Versions, DeleteMarkers][][].{Key: Key, VersionId: VersionId}}' > "/tmp/twinstore-lab-$$.json"
  if grep -q '"Key"' "/tmp/twinstore-lab-$$.json"; then
    $AWS --region "$1" s3api delete-objects --bucket "$2" --delete "file:///tmp/twinstore-lab-$$.json" >/dev/null
  fi
  rm -f "/tmp/twinstore-lab-$$.json"
}
east s3api delete-bucket-replication --bucket "$EAST_BUCKET"
west s3api delete-bucket-replication --bucket "$WEST_BUCKET"
empty "$EAST" "$EAST_BUCKET"; empty "$WEST" "$WEST_BUCKET"
sleep 3  # the trails deliver the records of those deletes into the logging buckets: empty those afterwards
empty "$EAST" "logging-$PREFIX-$EAST"; empty "$WEST" "logging-$PREFIX-$WEST"
$TWINSTORE stack delete --region "$EAST" --stack-name S3-CRR-lab-east
$TWINSTORE stack delete --region "$WEST" --stack-name S3-CRR-lab-west
echo "done"
