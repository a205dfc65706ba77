/**
 * A separate process for export-kill.test.ts: opens the server's database (from the
 * environment, as `npm start` does), works the queued export until its fifth page, says
 * `stalled` on stdout and waits there, to be killed with SIGKILL in the middle of a file.
 */
import { buildApp } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import { workOnce } from '../../src/export/worker.js';

const app = await buildApp(loadConfig(process.env), { exportLeaseMs: 300 });
let pages = 0;
await workOnce({
  ...app.exportWorker,
  // Pages of 2, files of 5: a file is three pages, so the fifth page is inside a file.
  pageSize: 2,
  onPage: async () => {
    if (++pages === 5) {
      process.stdout.write('stalled\n');
      await new Promise(() => {}); // until killed
    }
  },
});
process.stdout.write('finished\n'); // never, unless the export was shorter than five pages
