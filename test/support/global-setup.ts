import { startTestServices } from './test-services';

export default startTestServices;
