"""Two-way sync between the CRMs and the project tools.

A run first **plans** (what to create or update, and why) into ``sync.plan_items``; a dry run stops there.
The **apply** step then makes each planned write exactly once: the link and its idempotency key are recorded
before any vendor call, the key is stamped on what the vendor creates, and a run that finds a link still
pending looks the key up at the vendor before creating anything. Every call is kept in ``sync.writes``; a
write the vendor refuses is recorded with the vendor's message and never stops the others.

Modules: :mod:`.config` (the sync file), :mod:`.links` (links and audit in the warehouse),
:mod:`.deal_projects` (won deal → project: plan and apply), :mod:`.vendor_calls` (one audited HTTP write),
:mod:`.trello_projects` (projects as Trello boards).
"""
