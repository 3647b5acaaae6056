import { Operation } from './operations';

/**
 * At least one example of each operation: the README shows them, the OpenAPI
 * description carries them, and tests check both.
 */
export const OPERATION_EXAMPLES: Operation[] = [
  { op: 'resize', width: 320 },
  {
    op: 'resize',
    width: 300,
    height: 300,
    fit: 'cover',
    position: 'attention',
  },
  { op: 'resize', width: 2000, fit: 'inside', withoutEnlargement: true },
  { op: 'crop', left: 10, top: 20, width: 200, height: 100 },
  { op: 'trim', threshold: 10 },
  { op: 'extend', top: 20, bottom: 20, background: '#ffffff' },
  { op: 'rotate', angle: 90 },
  { op: 'rotate', angle: 15, background: '#00000000' },
  { op: 'flip' },
  { op: 'flop' },
  { op: 'blur', sigma: 2 },
  { op: 'sharpen', sigma: 1 },
  { op: 'median', size: 3 },
  { op: 'grayscale' },
  { op: 'brightness', factor: 1.2 },
  { op: 'gamma', gamma: 2.2 },
  { op: 'modulate', saturation: 1.5, hue: 30 },
  { op: 'contrast', factor: 1.3 },
  { op: 'normalize' },
  { op: 'negate' },
  { op: 'threshold', value: 128 },
  { op: 'tint', color: '#704214' },
  { op: 'edges' },
  {
    op: 'watermark',
    text: '© Example',
    gravity: 'southeast',
    opacity: 0.6,
    size: 24,
  },
  {
    op: 'watermark',
    image: 'logos/mark.png',
    gravity: 'northwest',
    opacity: 0.4,
  },
];
