/**
 * Locates the first syntax error of a JSON text, so problems can name the line and column on every
 * Node version (V8's own messages carry a position only sometimes).
 */

/** Offset and short description of the first JSON syntax error, or undefined when the text is valid JSON. */
export function findJsonError(s: string): { offset: number; message: string } | undefined {
  let i = 0
  const LITERAL = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?|true|false|null/y
  const fail = (expected: string): never => {
    throw new Error(`expected ${expected}, got ${i >= s.length ? 'the end of the file' : JSON.stringify(s[i])}`)
  }
  const ws = (): void => {
    while (i < s.length && ' \t\n\r'.includes(s[i] ?? '')) i++
  }
  const string = (): void => {
    i++
    while (i < s.length) {
      const c = s[i]
      if (c === '\\') i += 2
      else if (c === '"') {
        i++
        return
      } else if ((c?.charCodeAt(0) ?? 0) < 0x20) fail('a closing quote')
      else i++
    }
    fail('a closing quote')
  }
  const value = (): void => {
    ws()
    const c = s[i]
    if (c === '{') {
      i++
      ws()
      if (s[i] === '}') return void i++
      for (;;) {
        ws()
        if (s[i] !== '"') fail('a quoted property name')
        string()
        ws()
        if (s[i] !== ':') fail('":"')
        i++
        value()
        ws()
        if (s[i] === ',') i++
        else if (s[i] === '}') return void i++
        else fail('"," or "}"')
      }
    }
    if (c === '[') {
      i++
      ws()
      if (s[i] === ']') return void i++
      for (;;) {
        value()
        ws()
        if (s[i] === ',') i++
        else if (s[i] === ']') return void i++
        else fail('"," or "]"')
      }
    }
    if (c === '"') return string()
    LITERAL.lastIndex = i
    const m = LITERAL.exec(s)
    if (m === null) fail('a value')
    else i += m[0].length
  }
  try {
    if (s.charCodeAt(0) === 0xfeff) i = 1
    value()
    ws()
    if (i < s.length) fail('the end of the file')
    return undefined
  } catch (err) {
    return { offset: Math.min(i, s.length), message: (err as Error).message }
  }
}
