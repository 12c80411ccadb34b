import ReactMarkdown, { defaultUrlTransform } from 'react-markdown';
import rehypeHighlight from 'rehype-highlight';
import remarkGfm from 'remark-gfm';

/** The little of a hast tree the image rewrite reads. */
interface HastNode {
  type: string;
  tagName?: string;
  properties?: Record<string, unknown>;
  children?: HastNode[];
  value?: string;
}

/**
 * Markdown as the UI shows text it did not write (the model's): an image becomes a link
 * that shows its alt text and address and loads nothing until it is clicked, so a reply
 * cannot make the browser fetch a URL of its choosing. Raw HTML stays text (no
 * rehype-raw), and link addresses pass react-markdown's default filter of unsafe schemes.
 */
export function Markdown({ children }: { children: string }) {
  return (
    <ReactMarkdown remarkPlugins={[remarkGfm]} rehypePlugins={[rehypeImagesAsLinks, rehypeHighlight]}>
      {children}
    </ReactMarkdown>
  );
}

function rehypeImagesAsLinks() {
  return (tree: HastNode) => rewriteImages(tree, false);
}

function rewriteImages(node: HastNode, inLink: boolean): void {
  const children = node.children;
  if (!children) return;
  const linked = inLink || (node.type === 'element' && node.tagName === 'a');
  for (let i = 0; i < children.length; i++) {
    const child = children[i]!;
    if (child.type === 'element' && child.tagName === 'img') children[i] = imageAsLink(child, linked);
    else rewriteImages(child, linked);
  }
}

/** An image's stand-in: a link to it, or plain text inside a link (links do not nest). */
function imageAsLink(img: HastNode, inLink: boolean): HastNode {
  const src = typeof img.properties?.src === 'string' ? img.properties.src : '';
  // The filter react-markdown applies to links later, applied here so an unsafe address becomes text.
  const href = defaultUrlTransform(src);
  const alt = typeof img.properties?.alt === 'string' && img.properties.alt !== '' ? img.properties.alt : 'image';
  const label = [
    { type: 'element', tagName: 'span', properties: { className: ['image-alt'] }, children: [{ type: 'text', value: alt }] },
    { type: 'text', value: ' ' },
    { type: 'element', tagName: 'span', properties: { className: ['image-url'] }, children: [{ type: 'text', value: src }] },
  ];
  const properties = { className: ['image-link'], title: img.properties?.title, dataTestid: 'image-link' };
  return inLink || href === ''
    ? { type: 'element', tagName: 'span', properties, children: label }
    : {
        type: 'element',
        tagName: 'a',
        properties: { ...properties, href, target: '_blank', rel: ['noopener', 'noreferrer'] },
        children: label,
      };
}
