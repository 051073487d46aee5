// Preloaded (`node --import`) into a VMM process by the reliability tests: when the process exits,
// its peak resident set size goes to the file named by TS_VMM_RSS_REPORT.
import { writeFileSync } from 'node:fs';

const report = process.env.TS_VMM_RSS_REPORT;
if (report) {
  process.on('exit', () => {
    writeFileSync(report, JSON.stringify({ maxRssKiB: process.resourceUsage().maxRSS }));
  });
}
