// The elasticity manager's real adapters for a config: oned's XML-RPC API
// and the memory action on the hosts. Shared by cloudvamp-cvem and cloudvamp;
// tests build their own from lib/oned/elasticity-ports.ts. Here, not in
// lib/elasticity: it reads oned's credentials (I/O).
import { loadOneConnection } from './auth';
import { createOneClient } from './client';
import type { Adapters } from '../elasticity/command';
import type { ElasticityConfig } from '../elasticity/config';
import { KsmActionTuner, MemoryActionApplier, OnedClusterSource, OnedHostReservePublisher, OnedMigrator, OnedPublisher, OnedResizeApplier, type Waiting } from './elasticity-ports';
import type { Logger } from '../elasticity/ports';

export async function connectAdapters(config: ElasticityConfig, log: Logger, wait: Waiting): Promise<Adapters> {
  const connection = await loadOneConnection({ endpoint: config.oneXmlrpc, oneAuthFile: config.oneAuthFile });
  const client = createOneClient(connection);
  return {
    source: new OnedClusterSource(client, config, log),
    applier: config.applyMode === 'resize' ? new OnedResizeApplier(client, wait) : new MemoryActionApplier(config.memoryCommand),
    migrator: new OnedMigrator(client, config.migrationTimeoutMs, wait),
    publisher: new OnedPublisher(client),
    hostReserve: new OnedHostReservePublisher(client),
    ...(config.ksmCommand.length > 0 ? { ksm: new KsmActionTuner(config.ksmCommand) } : {}),
  };
}
