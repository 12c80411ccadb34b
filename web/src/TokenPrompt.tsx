import { useState } from 'react';

/** Asks once for the API token (`hearth serve` prints it and keeps it in its data directory). */
export function TokenPrompt({ refused, onToken }: { refused: boolean; onToken: (token: string) => void }) {
  const [value, setValue] = useState('');
  return (
    <form
      className="token-prompt"
      onSubmit={(e) => {
        e.preventDefault();
        if (value.trim()) onToken(value.trim());
      }}
    >
      <h1>Hearth</h1>
      <label htmlFor="token">API token</label>
      <input id="token" name="token" type="password" autoFocus value={value} onChange={(e) => setValue(e.target.value)} />
      <p className="hint">
        {refused
          ? 'The server refused that token.'
          : 'hearth serve prints it on its first start and keeps it in .hearth/token.'}
      </p>
      <button type="submit">Continue</button>
    </form>
  );
}
