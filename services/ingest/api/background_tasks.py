"""Background tasks and usage statistics: ``/api/v1/background-task`` and
``/api/v1/stats/usage/app``, as the ``svix`` SDK calls them.

Where Svix answers with a background task to poll, Hookline does the work before
answering (every such task here is small enough) and stores the task ``finished`` with
its result in ``data``, so a client written for Svix polls once and finds it done.
"""

from __future__ import annotations

import structlog
from aiohttp import web

from services.ingest.api.common import pool_of
from services.ingest.models.common import ListResponse, Ordering
from services.ingest.models.extras import (
    AppUsageStatsIn,
    AppUsageStatsOut,
    BackgroundTaskListQuery,
    BackgroundTaskOut,
)
from services.ingest.store import extras as store
from services.ingest.store.sql import Where, fetch_page
from shared.ids import new_id
from shared.web.errors import NotFound, Unprocessable
from shared.web.routes import ApiRoutes

routes = ApiRoutes()
log = structlog.get_logger()
TAG = "Background Task"
_COLUMNS = "id, task, status, data, updated_at"


@routes.get(
    "/api/v1/background-task",
    query=BackgroundTaskListQuery,
    response=ListResponse[BackgroundTaskOut],
    tag=TAG,
)
async def list_background_tasks(
    request: web.Request, query: BackgroundTaskListQuery
) -> ListResponse[BackgroundTaskOut]:
    """List background tasks, newest first unless ``order=ascending``."""
    where = Where()
    if query.status:
        where.add("status = {}", query.status.value)
    if query.task:
        where.add("task = {}", query.task)
    page = await fetch_page(
        pool_of(request),
        select=f"SELECT {_COLUMNS} FROM background_task",
        where=where,
        key="id",
        limit=query.limit,
        iterator=query.iterator,
        descending=query.order != Ordering.ascending,
    )
    return ListResponse[BackgroundTaskOut](
        data=[BackgroundTaskOut.model_validate(dict(r)) for r in page.rows],
        iterator=page.iterator,
        prev_iterator=page.prev_iterator,
        done=page.done,
    )


@routes.get("/api/v1/background-task/{task_id}", response=BackgroundTaskOut, tag=TAG)
async def get_background_task(request: web.Request) -> BackgroundTaskOut:
    """Get a background task and its result."""
    row = await pool_of(request).fetchrow(
        f"SELECT {_COLUMNS} FROM background_task WHERE id = $1", request.match_info["task_id"]
    )
    if row is None:
        raise NotFound("Background task not found")
    return BackgroundTaskOut.model_validate(dict(row))


@routes.post(
    "/api/v1/stats/usage/app",
    body=AppUsageStatsIn,
    response=AppUsageStatsOut,
    status=202,
    tag="Statistics",
    headers=["idempotency-key"],
)
async def aggregate_app_stats(request: web.Request, body: AppUsageStatsIn) -> AppUsageStatsOut:
    """Message destinations per application in ``[since, until)``: an
    ``application.stats`` task whose ``data.appStats`` holds the counts."""
    pool = pool_of(request)
    app_ids, unresolved = None, []
    if body.app_ids:
        app_ids, unresolved = await store.resolve_apps(pool, body.app_ids)
        if not app_ids:
            raise Unprocessable.single(["body", "appIds"], "none of the given application ids or uids exist")
    async with pool.acquire() as conn, conn.transaction():
        stats = await store.usage_by_app(conn, app_ids, body.since, body.until)
        task = await store.finished_task(conn, new_id("qtask"), "application.stats", {"appStats": stats})
    log.info("application usage counted", apps=len(stats))
    return AppUsageStatsOut(**dict(task), unresolved_app_ids=unresolved)
