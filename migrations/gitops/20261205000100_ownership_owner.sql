-- Which source (repository location + subdir) owns each managed object, so two
-- repositories applied to one database never take over, or prune, each other's
-- objects. NULL: written before this column existed (adopted by the next apply).
ALTER TABLE mcpbox_gitops.ownership ADD COLUMN IF NOT EXISTS owner text NULL;
