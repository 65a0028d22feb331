-- Argo CD health check of redisbackup.io/RedisBackupSchedule.
-- Install it under the key resource.customizations.health.redisbackup.io_RedisBackupSchedule of the argocd-cm
-- ConfigMap (see docs/gitops/README.md). Argo CD passes the object as `obj` and reads the returned status and message.
--   Progressing  not seen by the operator yet, a spec change not observed yet, or the schedule is going away
--   Healthy      the schedule runs (Ready=True): the message says when it runs next
--   Suspended    spec.suspend is true, or spec.snapshotRetentionLimit is 0 (automatic backups off, as ElastiCache)
--   Degraded     the spec cannot be scheduled (Stalled=True), or its newest automated backup failed (Ready=False);
--                the message starts with ElastiCache's fault name
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

if obj.metadata.deletionTimestamp ~= nil then
  health.status = "Progressing"
  health.message = "the RedisBackupSchedule and its automated backups are being deleted"
  return health
end

local ready = condition("Ready")
if ready == nil then
  health.status = "Progressing"
  health.message = "waiting for the operator to schedule the RedisBackupSchedule"
  return health
end

local generation = obj.metadata.generation
local observed = obj.status.observedGeneration
if generation ~= nil and observed ~= nil and observed < generation then
  health.status = "Progressing"
  health.message = "waiting for the operator to observe generation " .. generation
  return health
end

local stalled = condition("Stalled")
if stalled ~= nil and stalled.status == "True" then
  health.status = "Degraded"
  health.message = describe(stalled, "the spec cannot be scheduled")
elseif ready.status ~= "True" then
  health.status = "Degraded"
  health.message = describe(ready, "the newest automated backup failed")
elseif ready.reason == "Suspended" or ready.reason == "AutomaticBackupsOff" then
  health.status = "Suspended"
  health.message = describe(ready, "no new runs")
else
  health.status = "Healthy"
  health.message = describe(ready, "the schedule runs")
end
return health
