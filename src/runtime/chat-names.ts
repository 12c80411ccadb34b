/** Longest title taken from a first message, in characters. */
const TITLE_CHARS = 60;
/** Longest slug in a branch name, in characters. */
const SLUG_CHARS = 30;

/**
 * A chat's title from its first message: the first line with text, its spacing and
 * control characters made plain, cut at a word near 60 characters.
 */
export function titleFromMessage(text: string): string | null {
  const line = text.split(/\r?\n|\r/).find((l) => l.trim() !== '') ?? '';
  const plain = line.replace(/[\p{Cc}\p{Cf}\s]+/gu, ' ').trim();
  if (plain === '') return null;
  const chars = [...plain];
  if (chars.length <= TITLE_CHARS) return plain;
  const cut = chars.slice(0, TITLE_CHARS).join('');
  const space = cut.lastIndexOf(' ');
  return `${(space >= TITLE_CHARS * 0.6 ? cut.slice(0, space) : cut).trimEnd()}…`;
}

/**
 * A short name for git: lowercase letters, digits and single dashes inside, never at an
 * end, so that `hearth/<slug>-<id>` is always a valid branch name. Accents are dropped
 * rather than the letters they sit on; what has no such letter leaves nothing.
 */
export function slug(text: string): string {
  const ascii = text.normalize('NFKD').replace(/\p{M}+/gu, '').toLowerCase();
  const dashed = ascii.replace(/[^a-z0-9]+/g, '-').replace(/^-+|-+$/g, '');
  return dashed.slice(0, SLUG_CHARS).replace(/-+$/, '');
}

/**
 * The branch of a chat's worktree: `hearth/<slug>-<first 8 of its id>`, the slug from its
 * title or else its repository's directory name; `hearth/<id>` when neither leaves one.
 */
export function branchName(chatId: string, title: string | null | undefined, repoDirName: string): string {
  const name = slug(title ?? '') || slug(repoDirName);
  return name ? `hearth/${name}-${chatId.slice(0, 8)}` : `hearth/${chatId}`;
}
