// The typed task module a consumer passes to `new Pool<typeof import('./tasks.js')>`.

export function double(x: number): number {
  return x * 2;
}

export async function doubleLater(x: number): Promise<number> {
  return x * 2;
}

export function add(a: number, b: number): number {
  return a + b;
}

export function greet(name: string): string {
  return `hello ${name}`;
}

export const notAFunction = 42;
