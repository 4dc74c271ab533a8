"""CloudTrail events: who did what, from where, and what failed.

Sources (LookupEvents, the trail's S3 archive) produce one normalised record type (`record.Event`);
attribution, the event → IAM action mapping and aggregation are shared and source-blind, and reports
render from one result object.
"""
