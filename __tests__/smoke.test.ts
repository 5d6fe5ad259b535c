import { describe, expect, test } from '@jest/globals';
import { Pool } from '../lib/index.js';
import { tasksModule } from './helpers/fixtures.js';
import { expectNoLeakedWorkers } from './helpers/processes.js';

expectNoLeakedWorkers();

describe('smoke', () => {
  test('map over real processes', async () => {
    const pool = new Pool<typeof import('./fixtures/tasks.js')>({ processes: 2, module: tasksModule });
    await expect(pool.map('double', [1, 2, 3])).resolves.toEqual([2, 4, 6]);
    await pool.terminate();
  });
});
