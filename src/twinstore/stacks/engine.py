"""The stack state machine: create (resources concurrently as their dependencies complete), rollback, delete
(reverse dependency order), and resumption after a restart. Every transition is committed to the region's
stack store before the next action, so a restarted region finds each stack where it was and finishes the
operation (an interrupted creation is rolled back, an interrupted rollback or deletion is carried on)."""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import logging
from typing import Any, Awaitable, Callable, Iterable, Mapping, TypeVar

from ..protocol.errors import AWSError
from ..protocol.timefmt import now_us
from .caller import CallerSessions, Forwarder
from .clients import ClientFactory
from .intrinsics import Context
from .parameters import NO_ECHO_MASK
from .providers import PROVIDERS
from .providers.base import ProviderContext, ProviderError
from .store import STACK_TYPE, Event, Resource, Stack, StackStore, new_event_id
from .template import ResourceDef, Template

log = logging.getLogger("twinstore.stacks")

USER_INITIATED = "User Initiated"
CANCELLED = "Resource creation cancelled"
INTERRUPTED = "Resource creation cancelled: the region restarted during the operation"
_GONE = ("DELETE_COMPLETE", "DELETE_SKIPPED")
# attrs marker of a resource whose interrupted creation may have made it (planned_id), not checked yet because
# the operation's caller could not act: each deletion asks again, as its own caller
UNVERIFIED = "twinstore:unverified"


def pseudo_parameters(stack: Stack, region: str, account_id: str) -> dict[str, Any]:
    return {"AWS::AccountId": account_id, "AWS::Region": region, "AWS::StackId": stack.id,
            "AWS::StackName": stack.name, "AWS::Partition": "aws", "AWS::URLSuffix": "amazonaws.com",
            "AWS::NotificationARNs": []}


def _masked(stack: Stack, text: str) -> str:
    """Event properties with the values of NoEcho parameters replaced by asterisks, as DescribeStackEvents shows
    them (and so they are not stored there either)."""
    for p in stack.parameters:
        value = p["ParameterValue"]
        if p["ParameterKey"] in stack.no_echo and value:
            text = text.replace(json.dumps(value)[1:-1], NO_ECHO_MASK)
    return text


class StackEngine:
    def __init__(self, region: str, account_id: str, store: StackStore, clients: ClientFactory,
                 forward: Forwarder, workers: int = 8) -> None:
        """`forward`: credentials with a principal's permissions; providers sign with those of the principal
        that started the operation (stack.caller), never with more."""
        self.region = region
        self.account_id = account_id
        self.store = store
        self.clients = clients
        self.sessions = CallerSessions(forward)
        self._pool = concurrent.futures.ThreadPoolExecutor(workers, thread_name_prefix="stack-provider")
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._pending_delete: dict[str, tuple[list[str], dict[str, Any]]] = {}
        self._stopping = False

    # ---- lifecycle of the engine --------------------------------------------------------------------------
    async def start(self, serving: Callable[[], Awaitable[None]] | None = None) -> None:
        """Carries on every operation a previous run of this region left in progress, once `serving` says the
        region's endpoint accepts requests (the providers call it)."""
        for stack in await self.store.in_progress():
            log.info("resuming stack %s (%s)", stack.name, stack.status)
            self._spawn(stack.id, self._resume(stack, serving))

    async def _resume(self, stack: Stack, serving: Callable[[], Awaitable[None]] | None) -> None:
        if serving is not None:
            await serving()
        try:
            await self._resume_operation(stack)
        except Exception as e:  # noqa: BLE001 - never leave a stack in progress
            log.exception("resuming stack %s failed", stack.name)
            await self._stack_status(stack, stack.status.replace("_IN_PROGRESS", "_FAILED"), f"Internal failure: {e}")

    async def _resume_operation(self, stack: Stack) -> None:
        if stack.status == "CREATE_IN_PROGRESS":
            await self._resume_create(stack)
        elif stack.status == "ROLLBACK_IN_PROGRESS":
            await self._rollback(stack, [])
        elif stack.status == "DELETE_IN_PROGRESS":
            await self._delete(stack, stack.retain)
        else:  # a status this engine never sets (UPDATE_*): settle it rather than leave it in progress
            await self._stack_status(stack, stack.status.replace("_IN_PROGRESS", "_FAILED"),
                                     "Operation interrupted by a region restart")

    async def stop(self) -> None:
        self._stopping = True  # provider threads still running stop reporting (the store is closing)
        for t in list(self._tasks.values()):
            t.cancel()
        for t in list(self._tasks.values()):
            try:
                await t
            except BaseException:  # noqa: BLE001 - cancelled on shutdown; the store says where it was
                pass
        self._pool.shutdown(wait=False, cancel_futures=True)

    def _spawn(self, stack_id: str, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks[stack_id] = task
        task.add_done_callback(lambda t: self._done(stack_id, t))

    def _done(self, stack_id: str, task: asyncio.Task[None]) -> None:
        if self._tasks.get(stack_id) is task:
            del self._tasks[stack_id]
            self.sessions.forget(stack_id)
        if not task.cancelled() and task.exception() is not None:
            log.error("stack operation failed", exc_info=task.exception())

    def busy(self, stack_id: str) -> bool:
        return stack_id in self._tasks

    async def wait_idle(self, stack_id: str) -> None:
        task = self._tasks.get(stack_id)
        if task is not None:
            await asyncio.wait([task])

    # ---- operations (the stack row is already committed IN_PROGRESS by the API) ---------------------------
    def begin_create(self, stack: Stack) -> None:
        self._spawn(stack.id, self._create(stack))

    def begin_delete(self, stack: Stack, retain: list[str]) -> None:
        self._spawn(stack.id, self._delete(stack, retain))

    def request_delete(self, stack: Stack, retain: list[str], caller: dict[str, Any]) -> bool:
        """DeleteStack during a running creation: deleted (as `caller`) once the creation settles. False if none
        runs."""
        if stack.id in self._tasks and stack.status in ("CREATE_IN_PROGRESS", "ROLLBACK_IN_PROGRESS"):
            self._pending_delete[stack.id] = (retain, caller)
            return True
        return False

    # ---- events -------------------------------------------------------------------------------------------
    def _event(self, stack: Stack, logical_id: str, physical_id: str | None, rtype: str, status: str,
               reason: str | None, properties: dict[str, Any] | None = None) -> Event:
        return Event(stack.id, new_event_id(), logical_id, physical_id, rtype, now_us(), status, reason or None,
                     _masked(stack, json.dumps(properties)) if properties is not None else None, stack.client_token)

    async def _stack_status(self, stack: Stack, status: str, reason: str, deleted: bool = False,
                            retain: list[str] | None = None, keep_reason: bool = False,
                            caller: dict[str, Any] | None = None) -> None:
        """`keep_reason`: the stack keeps showing its previous reason (why a rollback happened)."""
        event = self._event(stack, stack.name, stack.id, STACK_TYPE, status, reason)
        stack.status = status
        if not keep_reason:
            stack.reason = reason
        await self.store.set_stack_status(stack.id, status, stack.reason, event, deleted=deleted, retain=retain,
                                          caller=caller)

    async def _resource(self, stack: Stack, r: Resource, reason: str = "", event: bool = True) -> None:
        r.reason = reason
        r.updated_us = now_us()
        ev = self._event(stack, r.logical_id, r.physical_id, r.type, r.status, reason, r.properties) \
            if event else None
        await self.store.put_resource(r, ev)

    # ---- create -------------------------------------------------------------------------------------------
    def _context(self, stack: Stack, template: Template, exports: dict[str, str], imported: set[str]) -> Context:
        given = {p["ParameterKey"]: p["ParameterValue"] for p in stack.parameters}
        ctx = template.context(given, pseudo_parameters(stack, self.region, self.account_id))

        def import_value(name: str) -> str:
            if name not in exports:
                raise AWSError("ValidationError", f"No export named {name} found.", status=400)
            imported.add(name)
            return exports[name]
        ctx.import_value = import_value
        return ctx

    async def _create(self, stack: Stack) -> None:
        try:
            await self._create_resources(stack)
        except Exception as e:  # noqa: BLE001 - never leave a stack in progress
            log.exception("stack %s creation failed", stack.name)
            if stack.status == "CREATE_IN_PROGRESS":
                await self._fail_create(stack, f"Internal failure: {e}. ")

    async def _create_resources(self, stack: Stack) -> None:
        template = Template.parse(stack.template, max_bytes=None)
        exports = {n: v for n, v, _ in await self.store.exports()}
        imported: set[str] = set()
        ctx = self._context(stack, template, exports, imported)
        resources = template.active(ctx.conditions)
        deps = template.graph(ctx.conditions)
        failed: list[str] = []
        await _in_dependency_order(resources, deps, failed, True,
                                   lambda r: self._create_one(stack, r, ctx, imported, lambda: bool(failed)))
        if not failed:
            reason = await self._finish_create(stack, template, ctx, imported)
            if reason is None:
                await self._after_create(stack)
                return
            failure = reason
        else:
            failure = f"The following resource(s) failed to create: [{', '.join(sorted(failed))}]. "
        await self._fail_create(stack, failure)

    async def _finish_create(self, stack: Stack, template: Template, ctx: Context, imported: set[str]) -> str | None:
        """Outputs and exports, then CREATE_COMPLETE; the failure reason instead if they cannot be made."""
        try:
            outputs = template.outputs_for(ctx)
        except AWSError as e:
            return e.message
        exports = {o["ExportName"]: o["OutputValue"] for o in outputs if "ExportName" in o}
        event = self._event(stack, stack.name, stack.id, STACK_TYPE, "CREATE_COMPLETE", None)
        conflict = await self.store.complete_create(stack.id, outputs, exports, sorted(imported), event)
        if conflict is not None and conflict.startswith("!"):
            return f"No export named {conflict[1:]} found. "
        if conflict is not None:
            return f"Export with name {conflict} is already exported by another stack. "
        stack.status, stack.outputs = "CREATE_COMPLETE", outputs
        return None

    async def _fail_create(self, stack: Stack, failure: str) -> None:
        if stack.on_failure == "DO_NOTHING":
            await self._stack_status(stack, "CREATE_FAILED", failure)
            await self._after_create(stack)
            return
        await self._stack_status(stack, "ROLLBACK_IN_PROGRESS", failure + "Rollback requested by user.")
        await self._rollback(stack, [])

    async def _after_create(self, stack: Stack) -> None:
        pending = self._pending_delete.pop(stack.id, None)
        if pending is not None:
            retain, stack.caller = pending
            await self._stack_status(stack, "DELETE_IN_PROGRESS", USER_INITIATED, retain=retain, caller=stack.caller)
            await self._delete(stack, retain)

    async def _create_one(self, stack: Stack, rdef: ResourceDef, ctx: Context, imported: set[str],
                          cancelled: Callable[[], bool]) -> bool:
        r = Resource(stack.id, rdef.logical_id, rdef.type, "CREATE_IN_PROGRESS", now_us(),
                     deletion_policy=rdef.deletion_policy)
        try:
            r.properties = ctx.resolve(rdef.properties)
        except AWSError as e:
            await self._resource(stack, r)
            r.status = "CREATE_FAILED"
            await self._resource(stack, r, e.message)
            return False
        await self._resource(stack, r)
        provider = PROVIDERS.get(rdef.type)
        if provider is None:
            r.status = "CREATE_FAILED"
            await self._resource(stack, r, f"Resource type {rdef.type} is not supported by twinstore (supported: "
                                           f"{', '.join(sorted(PROVIDERS))})")
            return False
        loop = asyncio.get_running_loop()

        def report(coro: Any) -> None:
            """Runs a store write from the provider's thread, waiting for it to commit."""
            if self._stopping:
                coro.close()
                raise ProviderError("Resource creation cancelled: the region is stopping")
            asyncio.run_coroutine_threadsafe(coro, loop).result(timeout=120)

        def initiated(physical_id: str) -> None:
            r.physical_id = physical_id
            report(self._resource(stack, r, "Resource creation Initiated"))

        def planned(physical_id: str) -> None:
            r.planned_id, r.planned_us = physical_id, now_us()
            report(self._resource(stack, r, event=False))

        try:
            pctx = await self._provider_context(stack, rdef.logical_id, initiated)
            pctx.planned = planned
            physical_id, attrs = await loop.run_in_executor(self._pool, provider.create, pctx, r.properties)
        except ProviderError as e:
            r.status = "CREATE_FAILED"
            await self._resource(stack, r, e.reason)
            return False
        except Exception as e:  # noqa: BLE001 - a provider bug fails the resource, not the engine
            log.exception("provider %s failed", rdef.type)
            r.status = "CREATE_FAILED"
            await self._resource(stack, r, f"Internal failure: {type(e).__name__}: {e}")
            return False
        r.physical_id, r.attrs = physical_id, attrs
        ctx.refs[rdef.logical_id] = physical_id
        ctx.attrs[rdef.logical_id] = attrs
        if cancelled():
            r.status = "CREATE_FAILED"
            await self._resource(stack, r, CANCELLED)
            return False
        r.status = "CREATE_COMPLETE"
        await self._resource(stack, r)
        return True

    async def _provider_context(self, stack: Stack, logical_id: str, initiated: Callable[[str], None]
                                ) -> ProviderContext:
        """Clients signed as the operation's caller; ProviderError when it cannot act (e.g. deleted)."""
        cred = await self.sessions.credential(stack.id, stack.caller)
        return ProviderContext(stack.name, stack.id, self.region, self.account_id, logical_id,
                               lambda service: self.clients.client(service, self.region, cred), initiated,
                               stack_tags=stack.tags)

    async def _resume_create(self, stack: Stack) -> None:
        failed = []
        for r in await self.store.resources(stack.id):
            if r.status == "CREATE_IN_PROGRESS":
                if r.physical_id is None and r.planned_id is not None:
                    try:
                        r.physical_id = await self._made_before_restart(stack, r)
                    except ProviderError:  # the caller cannot act (deleted): ask again when deleting
                        r.attrs[UNVERIFIED] = True
                r.status = "CREATE_FAILED"
                await self._resource(stack, r, INTERRUPTED)
                failed.append(r.logical_id)
        reason = (f"The following resource(s) failed to create: [{', '.join(sorted(failed))}]. " if failed
                  else "Stack creation interrupted by a region restart. ")
        await self._fail_create(stack, reason)

    async def _made_before_restart(self, stack: Stack, r: Resource) -> str | None:
        """The planned name, if the interrupted creation made that resource (so rollback deletes it)."""
        check = getattr(PROVIDERS.get(r.type), "created_since", None)
        if check is None or r.planned_id is None or r.planned_us is None:
            return None
        pctx = await self._provider_context(stack, r.logical_id, lambda _: None)  # may raise ProviderError
        try:
            made = await asyncio.get_running_loop().run_in_executor(self._pool, check, pctx, r.planned_id,
                                                                    r.planned_us)
        except ProviderError:
            return None
        return r.planned_id if made else None

    # ---- rollback and delete ------------------------------------------------------------------------------
    async def _rollback(self, stack: Stack, retain: list[str]) -> None:
        failed = await self._delete_resources(stack, retain=set(retain), rollback=True)
        if failed:
            await self._stack_status(stack, "ROLLBACK_FAILED", f"The following resource(s) failed to delete: "
                                                               f"[{', '.join(sorted(failed))}]. ")
            await self._after_create(stack)
            return
        await self._stack_status(stack, "ROLLBACK_COMPLETE", "", keep_reason=True)
        if stack.on_failure == "DELETE":
            await self._stack_status(stack, "DELETE_IN_PROGRESS", USER_INITIATED)
            await self._delete(stack, [])
            return
        await self._after_create(stack)

    async def _delete(self, stack: Stack, retain: list[str]) -> None:
        try:
            await self._delete_stack(stack, retain)
        except Exception as e:  # noqa: BLE001 - never leave a stack in progress
            log.exception("stack %s deletion failed", stack.name)
            await self._stack_status(stack, "DELETE_FAILED", f"Internal failure: {e}")

    async def _delete_stack(self, stack: Stack, retain: list[str]) -> None:
        in_use = await self.store.importers(stack.id)
        if in_use:
            name, importer = in_use[0]
            await self._stack_status(stack, "DELETE_FAILED", f"Export {name} cannot be deleted as it is in use "
                                                             f"by {importer}")
            return
        failed = await self._delete_resources(stack, retain=set(retain), rollback=False)
        if failed:
            await self._stack_status(stack, "DELETE_FAILED", f"The following resource(s) failed to delete: "
                                                             f"[{', '.join(sorted(failed))}]. ")
            return
        await self._stack_status(stack, "DELETE_COMPLETE", "", deleted=True)

    def _dependencies(self, stack: Stack) -> dict[str, set[str]]:
        try:
            template = Template.parse(stack.template, max_bytes=None)
            given = {p["ParameterKey"]: p["ParameterValue"] for p in stack.parameters}
            ctx = template.context(given, pseudo_parameters(stack, self.region, self.account_id))
            return template.graph(ctx.conditions)
        except AWSError:
            return {}

    async def _delete_resources(self, stack: Stack, retain: set[str], rollback: bool) -> list[str]:
        """Deletes the stack's resources, dependents before what they depend on; returns those that failed."""
        deps = self._dependencies(stack)
        resources = {r.logical_id: r for r in await self.store.resources(stack.id) if r.status not in _GONE}
        dependents: dict[str, set[str]] = {lid: set() for lid in resources}
        for lid in resources:
            for d in deps.get(lid, ()):
                if d in dependents:
                    dependents[d].add(lid)
        failed: list[str] = []
        await _in_dependency_order(resources, dependents, failed, False,
                                   lambda r: self._delete_one(stack, r, r.logical_id in retain, rollback))
        return failed

    async def _delete_one(self, stack: Stack, r: Resource, retained: bool, rollback: bool) -> bool:
        keep = retained or r.deletion_policy == "Retain" or (r.deletion_policy == "RetainExceptOnCreate"
                                                               and not rollback)
        if keep and (r.physical_id is not None or r.attrs.get(UNVERIFIED)):
            r.status = "DELETE_SKIPPED"
            await self._resource(stack, r)
            return True
        provider = PROVIDERS.get(r.type)
        r.status = "DELETE_IN_PROGRESS"
        await self._resource(stack, r)
        if r.physical_id is None and r.attrs.get(UNVERIFIED):  # made before a restart? ask as this caller
            try:
                r.physical_id = await self._made_before_restart(stack, r)
            except ProviderError as e:
                r.status = "DELETE_FAILED"
                await self._resource(stack, r, e.reason)
                return False
            del r.attrs[UNVERIFIED]
        if r.physical_id is not None and provider is not None:
            try:
                pctx = await self._provider_context(stack, r.logical_id, lambda _: None)
                await asyncio.get_running_loop().run_in_executor(
                    self._pool, provider.delete, pctx, r.physical_id, r.properties, r.attrs)
            except ProviderError as e:
                r.status = "DELETE_FAILED"
                await self._resource(stack, r, e.reason)
                return False
            except Exception as e:  # noqa: BLE001
                log.exception("provider %s failed", r.type)
                r.status = "DELETE_FAILED"
                await self._resource(stack, r, f"Internal failure: {type(e).__name__}: {e}")
                return False
        r.status = "DELETE_COMPLETE"
        await self._resource(stack, r)
        return True


T = TypeVar("T")


async def _in_dependency_order(items: Mapping[str, T], waits_for: Mapping[str, Iterable[str]], failed: list[str],
                               stop_on_failure: bool, start: Callable[[T], Awaitable[bool]]) -> None:
    """Runs `start` on every item once all the items it waits for are done, as many at once as are ready;
    appends the ids of those that fail to `failed`. With `stop_on_failure`, nothing new starts after a failure
    (what is in flight finishes); items waiting on a failed one never start."""
    state: dict[str, str] = {}
    running: dict[asyncio.Task[bool], str] = {}
    while True:
        if not (stop_on_failure and failed):
            for lid, item in items.items():
                if lid not in state and all(state.get(d) == "done" for d in waits_for[lid]):
                    state[lid] = "running"
                    running[asyncio.get_running_loop().create_task(start(item))] = lid  # type: ignore[arg-type]
        if not running:
            return
        finished, _ = await asyncio.wait(list(running), return_when=asyncio.FIRST_COMPLETED)
        for task in finished:
            lid = running.pop(task)
            ok = task.result()
            state[lid] = "done" if ok else "failed"
            if not ok:
                failed.append(lid)
