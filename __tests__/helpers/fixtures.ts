/** Paths of the fixture task modules, as the `module` option takes them. */
export const fixture = (name: string): URL => new URL(`../fixtures/${name}`, import.meta.url);
export const tasksModule = fixture('tasks.js');
