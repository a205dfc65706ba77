/**
 * A command-line tool the benchmarks drive (pgbench, wrk): found on PATH, or installed from
 * its Debian package with apt-get when it is missing and this process may (root on Debian);
 * undefined, with the reason printed, when there is none.
 */
import { execFileSync } from 'node:child_process';

export const which = (command: string): string | undefined => {
  try {
    return execFileSync('which', [command], { encoding: 'utf8' }).trim() || undefined;
  } catch {
    return undefined;
  }
};

export function findOrInstall(
  command: string,
  debianPackage: string,
  without: string,
  log: (line: string) => void = console.log,
): string | undefined {
  const found = which(command);
  if (found) return found;
  const aptGet = which('apt-get');
  if (!aptGet || process.getuid?.() !== 0) {
    log(`${command} is not installed (Debian: apt-get install ${debianPackage}): ${without}.`);
    return undefined;
  }
  log(`${command} is not installed: installing ${debianPackage} with apt-get ...`);
  try {
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
    execFileSync(aptGet, ['update', '-qq'], { stdio: 'inherit', env });
    execFileSync(aptGet, ['install', '-y', '-qq', debianPackage], { stdio: 'inherit', env });
  } catch (error) {
    log(`installing ${debianPackage} failed (${String(error)}): ${without}.`);
    return undefined;
  }
  return which(command);
}
