// ioredis Cluster whose disconnect() always ends, even when a failover has left it with no node connection.
import { Cluster, type ClusterNode, type ClusterOptions } from 'ioredis';

/**
 * ioredis moves a disconnecting Cluster to 'close' (then 'end') when its last node connection ends; with none left (a
 * dead master dropped, a BullMQ cluster reconnect under way) nothing ends and it stays 'disconnecting' for ever. A
 * BullMQ Worker closing soon after a cluster failover awaits that 'end' and hangs (seen on real nodes). This subclass
 * takes the step ioredis would have taken; duplicate() keeps the class, since BullMQ duplicates for its blocking calls.
 */
export class FailoverSafeCluster extends Cluster {
  private readonly nodesAtStart: ClusterNode[];

  constructor(startupNodes: ClusterNode[], options: ClusterOptions = {}) {
    super(startupNodes, options);
    this.nodesAtStart = startupNodes;
  }

  override disconnect(reconnect = false): void {
    if (process.env.DBG_SAFE) console.log('safe disconnect', this.status, this.nodes('all').length, reconnect);
    const nothingWillEnd = this.status !== 'wait' && this.status !== 'end' && this.nodes('all').length === 0;
    super.disconnect(reconnect);
    if (nothingWillEnd && this.status === 'disconnecting') {
      // What ioredis does on its pool's 'drain': 'close' runs its close handler, which ends (or reconnects) as asked.
      // Synchronously, so a connect() right after (BullMQ's cluster reconnect) is not closed by a late event.
      this.status = 'close';
      this.emit('close');
      // No close handler left (it was already spent on an earlier close): end here, as the handler would have.
      if (this.status === 'close' && !reconnect) {
        this.status = 'end';
        this.emit('end');
      }
    }
  }

  override duplicate(overrideStartupNodes: ClusterNode[] = [], overrideOptions: ClusterOptions = {}): Cluster {
    const nodes = overrideStartupNodes.length > 0 ? overrideStartupNodes : this.nodesAtStart.slice(0);
    return new FailoverSafeCluster(nodes, { ...this.options, ...overrideOptions });
  }
}
