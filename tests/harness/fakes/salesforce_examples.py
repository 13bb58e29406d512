"""Salesforce's own examples, copied from its REST API Developer Guide, each with its page.

The fake (`adapters/fakes/salesforce.py`) answers in these shapes, and the tests check
that the adapter reads the examples themselves and that the fake's answers carry the same
keys — so the fake cannot drift from what Salesforce documents. Pages are under
https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "COMPOSITE_REQUEST",
    "COMPOSITE_RESULT_CREATED",
    "COMPOSITE_RESULT_ERROR",
    "DELETED_RECORDS",
    "ERROR_INVALID_SESSION",
    "ERROR_NOT_FOUND",
    "ERROR_REQUEST_LIMIT",
    "LIMIT_INFO_HEADER",
    "QUERY_DONE",
    "QUERY_MORE_DONE",
    "QUERY_NEXT_RECORDS_URL",
    "TOKEN_REFRESHED",
    "UPSERT_CREATED",
]

# dome_query.htm ("Execute a SOQL Query", example response body; the page elides the
# other 12 records with "...").
QUERY_DONE: dict[str, Any] = {
    "done": True,
    "totalSize": 14,
    "records": [
        {
            "attributes": {
                "type": "Account",
                "url": "/services/data/v63.0/sobjects/Account/001D000000IRFmaIAH",
            },
            "Name": "Test 1",
        },
        {
            "attributes": {
                "type": "Account",
                "url": "/services/data/v63.0/sobjects/Account/001D000000IomazIAB",
            },
            "Name": "Test 2",
        },
    ],
}

# dome_query.htm ("Retrieving the Remaining SOQL Query Results"): the end of a partial
# answer, and the answer to a request for that URL (records elided by the page).
QUERY_NEXT_RECORDS_URL = "/services/data/v63.0/query/01gD0000002HU6KIAW-2000"
QUERY_MORE_DONE: dict[str, Any] = {"done": True, "totalSize": 3214, "records": []}

# dome_get_deleted.htm ("Get a List of Deleted Records Within a Given Timeframe", JSON
# example response body).
DELETED_RECORDS: dict[str, Any] = {
    "deletedRecords": [{"id": "a00D0000008pQRAIA2", "deletedDate": "2013-05-07T22:07:19.000+0000"}],
    "earliestDateAvailable": "2013-05-03T15:57:00.000+0000",
    "latestDateCovered": "2013-05-08T21:20:00.000+0000",
}

# dome_upsert.htm ("Insert or Update (Upsert) a Record Using an External ID": the 201
# answer; `created` is in API 46.0 and later).
UPSERT_CREATED: dict[str, Any] = {
    "id": "00190000001pPvHAAU",
    "errors": [],
    "success": True,
    "created": True,
}

# dome_upsert.htm (error response, "Incorrect external ID field"). The page prints the one
# error object; the API answers a JSON array of them (errorcodes.htm: "the response body
# contains the message and errorCode").
ERROR_NOT_FOUND: list[dict[str, Any]] = [
    {"message": "The requested resource does not exist", "errorCode": "NOT_FOUND"}
]

# errorcodes.htm: 401, "The session ID or OAuth token used has expired or is invalid. The
# response body contains the message and errorCode"; the code is the SOAP API's
# ExceptionCode INVALID_SESSION_ID (sforce_api_calls_concepts_core_data_objects.htm).
ERROR_INVALID_SESSION: list[dict[str, Any]] = [
    {"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}
]

# ExceptionCode REQUEST_LIMIT_EXCEEDED ("the org has exceeded its API request limit"),
# answered with 403 (errorcodes.htm: "403: The request has been refused").
ERROR_REQUEST_LIMIT: list[dict[str, Any]] = [
    {"message": "TotalRequests Limit exceeded.", "errorCode": "REQUEST_LIMIT_EXCEEDED"}
]

# headers_api_usage.htm ("Limit Info Header", example).
LIMIT_INFO_HEADER = ("Sforce-Limit-Info", "api-usage=10018/100000")

# resources_composite_composite_post.htm ("Send Multiple Requests Using Composite", the
# request body example: an Account, then a Contact parented under it by reference).
COMPOSITE_REQUEST: dict[str, Any] = {
    "compositeRequest": [
        {
            "method": "POST",
            "url": "/services/data/v61.0/sobjects/Account",
            "referenceId": "refAccount",
            "body": {"Name": "Sample Account"},
        },
        {
            "method": "POST",
            "url": "/services/data/v61.0/sobjects/Contact",
            "referenceId": "refContact",
            "body": {"LastName": "Sample Contact", "AccountId": "@{refAccount.id}"},
        },
    ]
}

# resources_composite_subrequest_result.htm ("Composite Subrequest Result", the example of
# a subrequest that created an Account, and of one that failed to create a Contact).
COMPOSITE_RESULT_CREATED: dict[str, Any] = {
    "body": {"id": "001R00000064wdtIAA", "success": True, "errors": []},
    "httpHeaders": {"Location": "/services/data/v67.0/sobjects/Account/001R00000064wdtIAA"},
    "httpStatusCode": 201,
    "referenceId": "refAccount",
}
COMPOSITE_RESULT_ERROR: dict[str, Any] = {
    "body": [
        {
            "message": "Email: invalid email address: Not a real email address",
            "errorCode": "INVALID_EMAIL_ADDRESS",
            "fields": ["Email"],
        }
    ],
    "httpHeaders": {},
    "httpStatusCode": 400,
    "referenceId": "badContact",
}


# The token endpoint's answer to a refresh (the JWT bearer and authorization code flows
# answer the same fields, `refresh_token` added for the latter): the org's `instance_url`
# is where its API lives. "OAuth 2.0 Refresh Token Flow for Renewed Sessions", example
# response: https://help.salesforce.com/s/articleView?id=sf.remoteaccess_oauth_refresh_token_flow.htm
TOKEN_REFRESHED: dict[str, Any] = {
    "access_token": "00DB0000000TfcR!AQQAQFhoK8vTMg_rKA.esrJ2bCs.OOIjJgl.9Cx6O7KqjZmHMLOyVb."
    "U61BU9tm4xRusf7d3fD1P9oefzqS6i9sJMPWj48IK",
    "signature": "d/SxeYBxH0GSVko0HMgcUxuZy0PA2cDDz1u7g7JtDHw=",
    "scope": "web openid",
    "instance_url": "https://yourInstance.salesforce.com",
    "id": "https://login.salesforce.com/id/00DB0000000TfcRMAS/005B0000005Bk90IAC",
    "token_type": "Bearer",
    "issued_at": "1339590566085",
}
