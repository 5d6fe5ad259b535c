/**
 * Types that let TypeScript check task names, arguments and results against the task
 * module: `new Pool<typeof import('./tasks.js')>(…)`.
 */

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type AnyFunction = (...args: any[]) => any;

/** The task module's shape when none is given: any name, any arguments. */
export type AnyTaskModule = Record<string, AnyFunction>;

/** Names of the module's exports that are functions. */
export type TaskName<M> = { [K in keyof M]: M[K] extends AnyFunction ? K : never }[keyof M] & string;

/** What may be passed as `fn`: an export name, or a function. */
export type TaskFn<M> = TaskName<M> | AnyFunction;

/** The function `F` designates: the export named `F`, or `F` itself. */
export type Target<M, F> = F extends keyof M ? M[F] : F;

/** Argument list of the task. */
export type TaskArgs<M, F> = Target<M, F> extends (...args: infer A) => unknown ? A : never;

/** What the task resolves to (its promise unwrapped). */
export type TaskResult<M, F> = Target<M, F> extends (...args: never[]) => infer R ? Awaited<R> : never;

/** One input item of `map`/`imap`: the task's first argument. */
export type TaskItem<M, F> = TaskArgs<M, F> extends [infer First, ...unknown[]] ? First : TaskArgs<M, F>[0];

/** Input accepted by `map`, `imap`, `starmap`: sync or async. */
export type AnyIterable<T> = Iterable<T> | AsyncIterable<T>;
