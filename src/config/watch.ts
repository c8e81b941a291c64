/**
 * Watches the config file and calls `onChange` once per burst of changes. Editors and controllers often
 * replace the file (write temp, rename), which drops an inotify watch on the file itself, so the directory
 * is watched and events are filtered by name; a short debounce folds the write+rename burst into one reload.
 */
import { watch, type FSWatcher } from 'node:fs';
import { basename, dirname } from 'node:path';

export interface ConfigWatcher {
  close(): void;
}

export function watchConfigFile(file: string, onChange: () => void, debounceMs = 150): ConfigWatcher {
  const name = basename(file);
  let timer: NodeJS.Timeout | undefined;
  const fire = () => {
    if (timer) clearTimeout(timer);
    timer = setTimeout(() => { timer = undefined; onChange(); }, debounceMs);
  };
  let w: FSWatcher | undefined = watch(dirname(file), { persistent: false }, (_event, changed) => {
    if (changed === null || changed === name) fire();
  });
  w.on('error', () => { /* directory vanished: keep serving the config we have */ });
  return {
    close() {
      if (timer) clearTimeout(timer);
      w?.close();
      w = undefined;
    },
  };
}
