// The Worker that hosts the coordinator, as a user's would:
// `export { HeadroomCoordinator } from "headroom/durable-object"`. The tests
// bind a subclass that can be made to restart, and a stand-in for a
// coordinator that cannot be reached.
import { DurableObject } from "cloudflare:workers";
import { HeadroomCoordinator } from "headroom/durable-object";

export { HeadroomCoordinator };

export class RestartableCoordinator extends HeadroomCoordinator {
  /** Reset the object, as an eviction or a deploy would: its memory is lost. */
  restart() {
    this.ctx.abort("restarted by the test");
  }
}

export class UnreachableCoordinator extends DurableObject {
  acquire() {
    throw new Error("coordinator unreachable");
  }
  sent() {
    throw new Error("coordinator unreachable");
  }
  complete() {
    throw new Error("coordinator unreachable");
  }
  release() {
    throw new Error("coordinator unreachable");
  }
}

export default {
  fetch() {
    return new Response("coordinator", { status: 404 });
  },
};
