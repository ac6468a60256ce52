-- Argo CD health check for certsync.io CertSync and SecretSync.
--
-- It reads the kstatus conditions certsync sets next to Ready:
--   Stalled=True      -> Degraded    (needs a human: no valid source, target
--                                     conflict, stalled rollout, stale pods…)
--   Reconciling=True  -> Progressing (renewal, rollout or verification in flight)
--   Ready=True        -> Healthy
-- and Progressing while status lags the spec (observedGeneration) or before
-- the first reconcile. A CertSync suspended with a differing target reads
-- Suspended.
local hs = {}
local function find(conditions, type)
  if conditions == nil then
    return nil
  end
  for _, c in ipairs(conditions) do
    if c.type == type then
      return c
    end
  end
  return nil
end

if obj.status == nil or obj.status.conditions == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for certsync to reconcile"
  return hs
end
if obj.metadata.generation ~= nil and obj.status.observedGeneration ~= nil
    and obj.status.observedGeneration < obj.metadata.generation then
  hs.status = "Progressing"
  hs.message = "Waiting for certsync to observe generation " .. obj.metadata.generation
  return hs
end

local conditions = obj.status.conditions
local stalled = find(conditions, "Stalled")
local reconciling = find(conditions, "Reconciling")
local ready = find(conditions, "Ready")

if stalled ~= nil and stalled.status == "True" then
  if stalled.reason == "Suspended" then
    hs.status = "Suspended"
  else
    hs.status = "Degraded"
  end
  hs.message = stalled.reason .. ": " .. (stalled.message or "")
  return hs
end
if reconciling ~= nil and reconciling.status == "True" then
  hs.status = "Progressing"
  hs.message = reconciling.reason .. ": " .. (reconciling.message or "")
  return hs
end
if ready ~= nil and ready.status == "True" then
  hs.status = "Healthy"
  hs.message = ready.message or ""
  return hs
end
if ready ~= nil then
  hs.status = "Progressing"
  hs.message = ready.reason .. ": " .. (ready.message or "")
  return hs
end
hs.status = "Progressing"
hs.message = "Waiting for certsync to reconcile"
return hs
