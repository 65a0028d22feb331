"""ElastiCache's Query API (version 2015-02-02): the wire protocol in front of `redisbackup.elasticache`.

sigv4           verifying Signature Version 4 with botocore's own signer
authentication  from a signed request to a Caller (access keys in Secrets, or a Kubernetes session token)
params          a form decoded by the operation's input shape
actions         each action onto one call of the core
rendering       XML from the output shapes; errors as ErrorResponse
errors          AWS's protocol errors, and the core's faults with the model's codes and statuses
handler         the aiohttp handler tying it together, with limits and metrics
"""
