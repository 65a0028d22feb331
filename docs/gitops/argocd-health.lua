-- Argo CD health check of redisbackup.io/RedisBackup.
-- Install it under the key resource.customizations.health.redisbackup.io_RedisBackup of the argocd-cm ConfigMap
-- (see docs/gitops/README.md). Argo CD passes the object as `obj` and reads the returned status and message.
--   Progressing  accepted, the snapshot is being taken (or waits for its source), or the RedisBackup is going away
--   Healthy      the snapshot is available (and, with spec.verify, not found bad by its verification)
--   Degraded     the snapshot failed (the message starts with ElastiCache's fault name), its verification failed
--                (Verified=False), or its stored data cannot be deleted (DeletionBlocked)
local health = {}

local function condition(kind)
  if obj.status ~= nil and obj.status.conditions ~= nil then
    for _, c in ipairs(obj.status.conditions) do
      if c.type == kind then
        return c
      end
    end
  end
  return nil
end

local function describe(c, fallback)
  if c == nil then
    return fallback
  end
  if c.reason ~= nil and c.reason ~= "" and c.message ~= nil and c.message ~= "" then
    return c.reason .. ": " .. c.message
  end
  return c.message or c.reason or fallback
end

local blocked = condition("DeletionBlocked")
if obj.metadata.deletionTimestamp ~= nil then
  if blocked ~= nil and blocked.status == "True" then
    health.status = "Degraded"
    health.message = describe(blocked, "the stored snapshot cannot be deleted yet")
  else
    health.status = "Progressing"
    health.message = "the RedisBackup is being deleted"
  end
  return health
end

if obj.status == nil or obj.status.phase == nil then
  health.status = "Progressing"
  health.message = "waiting for the operator to accept the RedisBackup"
  return health
end

-- The spec changed (deletionPolicy, verify) and the operator has not recorded that yet.
local generation = obj.metadata.generation
local observed = obj.status.observedGeneration
if generation ~= nil and observed ~= nil and observed < generation then
  health.status = "Progressing"
  health.message = "waiting for the operator to observe generation " .. generation
  return health
end

local phase = obj.status.phase
local verified = condition("Verified")
if phase == "available" and verified ~= nil and verified.status == "False" then
  health.status = "Degraded"
  health.message = describe(verified, "the stored snapshot failed its verification")
elseif phase == "available" then
  health.status = "Healthy"
  health.message = describe(condition("Ready"), "the snapshot is available")
elseif phase == "failed" then
  health.status = "Degraded"
  health.message = describe(condition("Failed"), "the snapshot failed")
elseif phase == "deleting" and blocked ~= nil and blocked.status == "True" then
  health.status = "Degraded"
  health.message = describe(blocked, "the stored snapshot cannot be deleted yet")
else
  health.status = "Progressing"
  health.message = describe(condition("Progressing"), "the snapshot is being taken")
end
return health
