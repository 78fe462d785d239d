"""A template of the reference lab's shape (written for these tests): per region, a versioned SSE-S3 bucket
with a public access block, a managed replication policy attached to a role S3 may assume, a CloudTrail trail
with S3 data-event selectors writing to a logging bucket (through its bucket policy) and to a log group (through
a role with inline policies), and the bucket name as output."""

from __future__ import annotations

PATTERN = ("(?=^.{5,40}$)(?!^(\\d+\\.)+\\d+$)(^(([a-z0-9]|[a-z0-9][a-z0-9\\-]*[a-z0-9])\\.)*"
           "([a-z0-9]|[a-z0-9][a-z0-9\\-]*[a-z0-9])$)")

HEADER = f"""AWSTemplateFormatVersion: 2010-09-09
Description: >-
  Replication lab infrastructure for one region: an encrypted, versioned bucket,
  the IAM role and policy replication needs, and CloudTrail data events delivered
  to a logging bucket and a CloudWatch Logs group.

Parameters:
  NamingPrefix:
    Type: String
    Description: Prefix of the bucket and IAM names (5 to 40 characters)
    AllowedPattern: '{PATTERN}'
    ConstraintDescription: 5 to 40 lowercase letters, digits, periods and dashes

Resources:
"""

DATA_BUCKET = """
  S3BucketWithEncryption:
    Type: AWS::S3::Bucket
    Properties:
      BucketName: !Sub '${NamingPrefix}-crrlab-${AWS::Region}'
      AccessControl: Private
      BucketEncryption:
        ServerSideEncryptionConfiguration:
          - ServerSideEncryptionByDefault:
              SSEAlgorithm: AES256
      VersioningConfiguration:
        Status: Enabled
      PublicAccessBlockConfiguration:
        BlockPublicAcls: true
        BlockPublicPolicy: true
        IgnorePublicAcls: true
        RestrictPublicBuckets: true
"""

REPLICATION_IAM = """
  S3ReplicationPolicy:
    Type: AWS::IAM::ManagedPolicy
    Properties:
      ManagedPolicyName: !Sub '${NamingPrefix}-S3-Replication-Policy-${AWS::Region}'
      Description: What S3 replication may do with the lab buckets
      Path: /
      PolicyDocument:
        Version: 2012-10-17
        Statement:
          - Effect: Allow
            Action: ['s3:GetReplicationConfiguration', 's3:ListBucket', 's3:GetObjectVersionForReplication',
                     's3:GetObjectVersionAcl', 's3:GetObjectVersionTagging']
            Resource:
              - !Sub 'arn:aws:s3:::${NamingPrefix}-crrlab-${AWS::Region}'
              - !Sub 'arn:aws:s3:::${NamingPrefix}-crrlab-${AWS::Region}/*'
          - Effect: Allow
            Action: ['s3:ReplicateObject', 's3:ReplicateDelete', 's3:ReplicateTags']
            Resource: !Sub 'arn:aws:s3:::${NamingPrefix}-crrlab-*/*'

  S3ReplicationRole:
    Type: AWS::IAM::Role
    DependsOn: S3ReplicationPolicy
    Properties:
      RoleName: !Sub '${NamingPrefix}-S3-Replication-Role-${AWS::Region}'
      Path: /
      AssumeRolePolicyDocument:
        Version: 2012-10-17
        Statement:
          - Effect: Allow
            Principal: {Service: [s3.amazonaws.com]}
            Action: ['sts:AssumeRole']
      ManagedPolicyArns:
        - !Ref S3ReplicationPolicy
"""

LOGGING_BUCKET = """
  LoggingBucket:
    Type: AWS::S3::Bucket
    Properties:
      BucketName: !Sub 'logging-${NamingPrefix}-${AWS::Region}'
      AccessControl: LogDeliveryWrite

  CloudTrailWriteToS3Policy:
    Type: AWS::S3::BucketPolicy
    Properties:
      Bucket: !Ref LoggingBucket
      PolicyDocument:
        Version: '2012-10-17'
        Statement:
          - Sid: TrailAclCheck
            Effect: Allow
            Principal: {Service: cloudtrail.amazonaws.com}
            Action: 's3:GetBucketAcl'
            Resource: !Sub 'arn:aws:s3:::${LoggingBucket}'
          - Sid: TrailWrite
            Effect: Allow
            Principal: {Service: cloudtrail.amazonaws.com}
            Action: 's3:PutObject'
            Resource: !Sub 'arn:aws:s3:::${LoggingBucket}/AWSLogs/${AWS::AccountId}/*'
            Condition:
              StringEquals: {'s3:x-amz-acl': bucket-owner-full-control}
"""

TRAIL = """
  CloudWatchLogGroup:
    Type: AWS::Logs::LogGroup
    DeletionPolicy: Delete
    Properties:
      LogGroupName: !Sub 'CloudTrail/logs/${NamingPrefix}'
      RetentionInDays: 30

  CloudTrailWriteToLogGroupRole:
    Type: AWS::IAM::Role
    Properties:
      RoleName: !Sub '${NamingPrefix}-CloudTrailWriteToLogGroupRole-${AWS::Region}'
      Path: /
      AssumeRolePolicyDocument:
        Version: 2012-10-17
        Statement:
          - Effect: Allow
            Principal: {Service: [cloudtrail.amazonaws.com]}
            Action: ['sts:AssumeRole']
      Policies:
        - PolicyName: writeToLogGroup
          PolicyDocument:
            Version: 2012-10-17
            Statement:
              - Effect: Allow
                Action: ['logs:CreateLogStream', 'logs:PutLogEvents']
                Resource:
                  - !Sub 'arn:aws:logs:${AWS::Region}:${AWS::AccountId}:log-group:CloudTrail/logs/${NamingPrefix}:log-stream:*'

  CloudTrailForLogs:
    Type: AWS::CloudTrail::Trail
    DependsOn: [CloudTrailWriteToS3Policy]
    Properties:
      S3BucketName: !Ref LoggingBucket
      CloudWatchLogsLogGroupArn: !Sub '${CloudWatchLogGroup.Arn}'
      CloudWatchLogsRoleArn: !Sub '${CloudTrailWriteToLogGroupRole.Arn}'
      IsLogging: true
      IsMultiRegionTrail: false
      IncludeGlobalServiceEvents: false
      EnableLogFileValidation: false
      EventSelectors:
        - ReadWriteType: WriteOnly
          IncludeManagementEvents: false
          DataResources:
            - Type: AWS::S3::Object
              Values: [!Sub 'arn:aws:s3:::${NamingPrefix}-crrlab-${AWS::Region}/']
"""

OUTPUTS = """
Outputs:
  S3BucketName:
    Description: The lab bucket of this region
    Value: !Ref S3BucketWithEncryption
"""

LAB = HEADER + DATA_BUCKET + REPLICATION_IAM + LOGGING_BUCKET + TRAIL + OUTPUTS

# What this branch's services can run: the S3 part of the lab (no IAM, CloudTrail, Logs, bucket encryption).
S3_PART = HEADER + DATA_BUCKET.replace("""      BucketEncryption:
        ServerSideEncryptionConfiguration:
          - ServerSideEncryptionByDefault:
              SSEAlgorithm: AES256
""", "") + LOGGING_BUCKET + OUTPUTS
